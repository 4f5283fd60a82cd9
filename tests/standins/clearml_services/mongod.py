"""Stand-in for mongod (mongo:7.0.22): takes mongod's command line and listens on TCP (27017).

Its protocol is trivial, for the mongosh stand-in only: a client sends ``ping\\n`` and gets
``{"ok": 1}\\n``; anything else gets ``{"ok": 0, ...}``. It stores nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socketserver
import sys
import threading

from .common import setup_logging

log = logging.getLogger("clearml_services")


class Handler(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self) -> None:
        # A bare connect-and-close (a TCP probe) is normal: no reply, no error.
        try:
            line = self.rfile.readline(1024).strip()
            if not line:
                return
            reply = {"ok": 1} if line == b"ping" else {"ok": 0, "errmsg": "the stand-in mongod answers only ping"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _parameter(text: str) -> str:
    if "=" not in text.strip("="):
        raise argparse.ArgumentTypeError(f"--setParameter takes name=value, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mongod")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--bind_ip", default="0.0.0.0")
    parser.add_argument("--bind_ip_all", action="store_true")
    parser.add_argument("--dbpath", default="/data/db")
    parser.add_argument("--setParameter", action="append", default=[], type=_parameter)
    args, ignored = parser.parse_known_args(argv)
    setup_logging()
    host = "0.0.0.0" if args.bind_ip_all else args.bind_ip.split(",")[0]
    for param in args.setParameter:
        log.info("mongod stand-in: setParameter %s", param)
    if ignored:
        log.info("mongod stand-in: ignoring %s", " ".join(ignored))
    server = Server((host, args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    log.info("mongod stand-in listening on %s:%d (dbpath %s, nothing stored)", host, args.port, args.dbpath)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
