"""What every stand-in server here shares: an HTTP server that stops at once on SIGTERM (as PID 1)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from http.server import ThreadingHTTPServer

log = logging.getLogger("clearml_services")


class Server(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections must not hold up the exit
    allow_reuse_address = True


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(server, what: str) -> int:
    """Serve until SIGTERM/SIGINT. PID 1 ignores signals it has no handler for, so install one;
    shutdown() must run off the serving thread."""
    def stop(signum, _frame):
        log.info("%s: signal %d, stopping", what, signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    log.info("%s stand-in listening on %s:%s", what, host, port)
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
