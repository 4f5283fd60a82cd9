"""A loopback HTTP proxy in front of an S3 server that counts requests and body bytes each way, so a
benchmark can say how many objects and bytes a flow read from and wrote to S3."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class CountingProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.requests: Counter = Counter()  # method -> count
        self.gets: Counter = Counter()  # bucket -> GET requests
        self.bytes_written: Counter = Counter()  # bucket -> request body bytes: what clients sent to S3
        self.bytes_read: Counter = Counter()  # bucket -> GET response body bytes: what clients read from S3
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                bucket = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
                with proxy._lock:
                    proxy.requests[self.command] += 1
                    proxy.bytes_written[bucket] += length
                    if self.command == "GET":
                        proxy.gets[bucket] += 1
                        proxy.bytes_read[bucket] += len(payload)
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": dict(self.requests), "gets": dict(self.gets), "bytes_read": dict(self.bytes_read),
                    "bytes_written": dict(self.bytes_written)}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
