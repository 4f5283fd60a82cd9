"""Stand-in for the clearml-server image's `fileserver`: files under a root folder (/mnt/fileserver).

OPTIONS (any path) 200; GET/HEAD a stored file; PUT /path with the file as body; POST /folder as
multipart/form-data, each part stored at folder/<field name> (as the real fileserver does);
DELETE /path. Paths cannot leave the root.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import os
import shutil
import sys
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from .common import Server, serve, setup_logging

MAX_BODY = 256 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    server: "FileServer"

    def _target(self, rel: str = "") -> str | None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        full = os.path.realpath(os.path.join(self.server.root, path, rel.lstrip("/")))
        return full if full.startswith(self.server.root + os.sep) else None

    def _json(self, code: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _length(self) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"body too large ({length} bytes)")
        return length

    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self.send_header("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        target = self._target()
        if not target or not os.path.isfile(target):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(os.path.getsize(target)))
        self.end_headers()
        if self.command != "HEAD":
            with open(target, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    do_HEAD = do_GET

    def _store(self, target: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".part", "wb") as f:
            f.write(data)
        os.replace(target + ".part", target)

    def do_PUT(self) -> None:
        target = self._target()
        if not target:
            return self._json(400, {"error": "bad path"})
        self._store(target, self.rfile.read(self._length()))
        self._json(200, [os.path.relpath(target, self.server.root)])

    def do_POST(self) -> None:
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._json(400, {"error": "expected multipart/form-data"})
        raw = self.rfile.read(self._length())
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        stored = []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            target = self._target(name or "")
            if not name or not target:
                return self._json(400, {"error": f"bad field name {name!r}"})
            self._store(target, part.get_payload(decode=True) or b"")
            stored.append(os.path.relpath(target, self.server.root))
        self._json(200, stored)

    def do_DELETE(self) -> None:
        target = self._target()
        if not target or not os.path.isfile(target):
            return self._json(404, {"error": "not found"})
        os.remove(target)
        self._json(200, {"deleted": True})


class FileServer(Server):
    def __init__(self, address, root: str):
        super().__init__(address, Handler)
        self.root = os.path.realpath(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fileserver-standin")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--root", default="/mnt/fileserver")
    args = parser.parse_args(argv)
    setup_logging()
    os.makedirs(args.root, exist_ok=True)
    return serve(FileServer((args.host, args.port), args.root), "fileserver")


if __name__ == "__main__":
    sys.exit(main())
