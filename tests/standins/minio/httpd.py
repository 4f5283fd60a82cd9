"""HTTP plumbing: the S3 listener (S3, health, internal peer endpoints) and the console listener.

Request bodies are read through ``Body``: Content-Length or chunked transfer coding, then the
aws-chunked content coding that S3 clients use for streaming uploads (chunk signatures are not
checked, see sigv4.py). ``Expect: 100-continue`` is answered lazily, only when the handler starts
reading the body, so a request refused early (auth, quorum) never has its body sent at all.

Health, without authentication, as MinIO: /minio/health/live and /ready answer 200 while the process
serves; /minio/health/cluster answers 200 when the online nodes make write quorum, else 503
(?maintenance=true: 412 if this node going away would lose it); /minio/health/cluster/read does the
same for read quorum.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from .cluster import INTERNAL_PREFIX, Cluster
from .s3 import Request, Response, S3Api, S3Error, error_body

log = logging.getLogger("minio_standin.httpd")

COPY_CHUNK = 1 << 20
MAX_CHUNK_LINE = 4096
STREAMING_PREFIX = "STREAMING-"


# ----------------------------------------------------------------------------------------------
# request bodies
# ----------------------------------------------------------------------------------------------

class Body:
    """The decoded request body; hashes what it hands out (MD5 for ETags, SHA-256 when it is signed)."""

    def __init__(self, rfile, headers, on_first_read=None):
        self._rfile = rfile
        self._on_first_read = on_first_read
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        length = headers.get("Content-Length")
        self.declared_length = int(length) if length and length.strip().isdigit() else None
        self._remaining = 0 if self.chunked else (self.declared_length or 0)
        self._chunk_left = 0      # of the current HTTP chunk
        self._raw_done = not self.chunked and self._remaining == 0
        content_sha = headers.get("X-Amz-Content-Sha256") or ""
        self.aws_chunked = (content_sha.startswith(STREAMING_PREFIX)
                            or "aws-chunked" in (headers.get("Content-Encoding") or "").lower())
        decoded = headers.get("X-Amz-Decoded-Content-Length")
        self._decoded_length = int(decoded) if decoded and decoded.isdigit() else None
        self._aws_left = 0        # of the current aws-chunked chunk
        self._done = self._raw_done
        self.size = 0
        self.md5 = hashlib.md5()
        self._sha256 = None
        self._expected_sha256 = None

    @property
    def complete(self) -> bool:
        return self._raw_done

    def expect_payload_hash(self, payload_hash: str) -> None:
        if len(payload_hash) == 64 and all(c in "0123456789abcdef" for c in payload_hash) and not self.aws_chunked:
            self._expected_sha256 = payload_hash
            self._sha256 = hashlib.sha256()

    # -- HTTP framing (Content-Length or chunked)

    def _raw_read(self, n: int) -> bytes:
        if self._raw_done:
            return b""
        if self._on_first_read is not None:
            self._on_first_read()
            self._on_first_read = None
        if not self.chunked:
            data = self._rfile.read(min(n, self._remaining))
            if not data:
                raise S3Error("IncompleteBody")
            self._remaining -= len(data)
            self._raw_done = self._remaining == 0
            return data
        if self._chunk_left == 0:
            size_line = self._rfile.readline(MAX_CHUNK_LINE)
            try:
                self._chunk_left = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise S3Error("IncompleteBody", "malformed chunked transfer coding") from None
            if self._chunk_left == 0:
                while self._rfile.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._raw_done = True
                return b""
        data = self._rfile.read(min(n, self._chunk_left))
        if not data:
            raise S3Error("IncompleteBody")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(MAX_CHUNK_LINE)  # CRLF after the chunk
        return data

    def _raw_exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            data = self._raw_read(n)
            if not data:
                raise S3Error("IncompleteBody")
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def _raw_line(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            if len(line) > MAX_CHUNK_LINE:
                raise S3Error("IncompleteBody", "malformed aws-chunked coding")
            byte = self._raw_read(1)
            if not byte:
                break
            line += byte
        return bytes(line)

    # -- aws-chunked content coding: "<hex size>[;chunk-signature=...]\r\n<data>\r\n" ... "0...\r\n[trailers]\r\n"

    def _decoded_read(self, n: int) -> bytes:
        if not self.aws_chunked:
            return self._raw_read(n)
        if self._done:
            return b""
        if self._aws_left == 0:
            header = self._raw_line()
            try:
                self._aws_left = int(header.split(b";")[0].strip(), 16)
            except ValueError:
                raise S3Error("IncompleteBody", "malformed aws-chunked coding") from None
            if self._aws_left == 0:
                while self._raw_line().strip():
                    pass  # trailing checksums / trailer signature
                self._drain_raw()
                self._done = True
                return b""
        data = self._raw_read(min(n, self._aws_left))
        if not data:
            raise S3Error("IncompleteBody")
        self._aws_left -= len(data)
        if self._aws_left == 0:
            self._raw_line()  # CRLF after the chunk data
        return data

    def _drain_raw(self) -> None:
        while self._raw_read(COPY_CHUNK):
            pass

    # -- what handlers use

    def read(self, n: int = COPY_CHUNK) -> bytes:
        data = self._decoded_read(n)
        if not data:
            self._done = True
            return b""
        self.size += len(data)
        self.md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        return data

    def read_all(self, limit: int) -> bytes:
        parts, total = [], 0
        while chunk := self.read(COPY_CHUNK):
            total += len(chunk)
            if total > limit:
                raise S3Error("InvalidRequest", "request body too large")
            parts.append(chunk)
        return b"".join(parts)

    def finish(self) -> None:
        """After the last read: check the signed payload hash and the announced decoded length."""
        if self._sha256 is not None and self._sha256.hexdigest() != self._expected_sha256:
            raise S3Error("XAmzContentSHA256Mismatch")
        if self.aws_chunked and self._decoded_length is not None and self._decoded_length != self.size:
            raise S3Error("IncompleteBody")


# ----------------------------------------------------------------------------------------------
# the S3 listener
# ----------------------------------------------------------------------------------------------

class NodeServer(ThreadingHTTPServer):
    daemon_threads = True       # keep-alive client connections must not hold up a stop
    allow_reuse_address = True  # a restarted node binds its port again at once
    request_queue_size = 128

    def __init__(self, address, api: S3Api, cluster: Cluster):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, NodeHandler)
        self.api = api
        self.cluster = cluster

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away: not a server fault
        log.exception("error while serving %s", client_address)


class NodeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: boto3 and the peers reuse connections
    server_version = "MinIO"
    sys_version = ""
    timeout = 300                   # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # status line, headers and body are separate writes

    def log_message(self, fmt, *args) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    def version_string(self) -> str:
        return self.server_version  # "MinIO": some clients look for it

    def handle_expect_100(self) -> bool:
        self._expect_100 = True     # answered when the body is first read (Body.on_first_read)
        return True

    def _continue(self) -> None:
        if getattr(self, "_expect_100", False):
            self._expect_100 = False
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = lambda self: self._dispatch()

    def _dispatch(self) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        target = self.path
        if "://" in target.split("?", 1)[0]:  # absolute-form request target
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        raw_path, _, raw_query = target.partition("?")
        body = Body(self.rfile, self.headers, on_first_read=self._continue)
        try:
            if raw_path.startswith("/minio/health/"):
                response = self._health(raw_path, raw_query)
            elif raw_path.startswith(INTERNAL_PREFIX):
                response = self._internal(raw_path[len(INTERNAL_PREFIX):], raw_query, target, body)
            elif raw_path.startswith("/minio/"):
                raise S3Error("NotImplemented", "MinIO admin and console APIs are not served by the stand-in")
            else:
                bucket, _, key = unquote(raw_path[1:]).partition("/")
                query = {k: v for k, v in parse_qsl(raw_query, keep_blank_values=True)}
                request = Request(self.command, raw_path, raw_query, query, self.headers, body, bucket, key)
                response = self.server.api.handle(request)
        except S3Error as err:
            response = self._error(err, raw_path, request_id)
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            response = self._error(S3Error("InternalError"), raw_path, request_id)
        response.headers.setdefault("x-amz-request-id", request_id)
        self._send(response, body)

    def _error(self, err: S3Error, resource: str, request_id: str) -> Response:
        log.debug("%s %s -> %s", self.command, resource, err.code)
        return Response(err.status, {"Content-Type": "application/xml"}, error_body(err, resource, request_id))

    def _send(self, response: Response, body: Body) -> None:
        try:
            if not body.complete:
                # The body was not read (an early refusal): the connection cannot carry another request.
                self.close_connection = True
                response.headers["Connection"] = "close"
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            streamed = response.file is not None or (self.command == "HEAD" and response.length)
            if response.status not in (204, 304):  # those carry no body and no Content-Length
                self.send_header("Content-Length", str(response.length if streamed else len(response.body)))
            self.end_headers()
            if self.command == "HEAD" or response.status in (204, 304):
                return
            if response.file is None:
                self.wfile.write(response.body)
                return
            remaining = response.length
            while remaining > 0:
                chunk = response.file.read(min(COPY_CHUNK, remaining))
                if not chunk:
                    raise ConnectionError("payload file shorter than its record")
                self.wfile.write(chunk)
                remaining -= len(chunk)
        finally:
            if response.file is not None:
                response.file.close()

    # -- health

    def _health(self, raw_path: str, raw_query: str) -> Response:
        if self.command not in ("GET", "HEAD"):
            raise S3Error("MethodNotAllowed")
        cluster: Cluster = self.server.cluster
        path = raw_path.rstrip("/")
        if path in ("/minio/health/live", "/minio/health/ready"):
            return Response(200)
        online = cluster.online_nodes()
        headers = {"X-Minio-Write-Quorum": str(cluster.write_quorum_drives())}
        if path == "/minio/health/cluster":
            if not cluster.has_quorum(online, write=True):
                return Response(503, headers)
            if dict(parse_qsl(raw_query)).get("maintenance") == "true":
                if not cluster.has_quorum(online - {cluster.node}, write=True):
                    return Response(412, headers)
            return Response(200, headers)
        if path == "/minio/health/cluster/read":
            return Response(200 if cluster.has_quorum(online, write=False) else 503)
        return Response(404)

    # -- peers

    def _internal(self, action: str, raw_query: str, target: str, body: Body) -> Response:
        cluster: Cluster = self.server.cluster
        if not cluster.authorized(self.command, target, self.headers):
            return Response(403, {"Content-Type": "application/json"}, b'{"error": "not a peer"}')
        status, result = cluster.serve_internal(self.command, action, raw_query, self.headers, body)
        if hasattr(result, "read"):
            size = result.seek(0, 2)
            result.seek(0)
            return Response(status, {"Content-Type": "application/octet-stream"}, file=result, length=size)
        return Response(status, {"Content-Type": "application/json"}, json.dumps(result).encode())


# ----------------------------------------------------------------------------------------------
# the console listener
# ----------------------------------------------------------------------------------------------

CONSOLE_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>MinIO stand-in</title></head>
<body><h1>MinIO stand-in</h1>
<p>This is a test double of a MinIO server (S3 API on the API port). It has no console.</p>
</body></html>
"""


class ConsoleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MinIO-Console-Standin"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args) -> None:
        log.debug("console %s %s", self.address_string(), fmt % args)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(CONSOLE_PAGE)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(CONSOLE_PAGE)

    do_HEAD = do_GET


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, ConsoleHandler)


def serve_in_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return thread

