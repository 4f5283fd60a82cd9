"""Stand-in for the clearml-server image's `webserver` (the web UI): GET / answers a small HTML page."""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler

from .common import Server, serve, setup_logging

PAGE = b"""<!doctype html>
<html><head><title>ClearML</title></head>
<body><p>ClearML web UI (test stand-in)</p></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/index.html"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(PAGE)

    do_HEAD = do_GET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webserver-standin")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    setup_logging()
    return serve(Server((args.host, args.port), Handler), "webserver")


if __name__ == "__main__":
    sys.exit(main())
