"""HTTP layer of the ClearML API stand-in: routing, auth, ClearML's response envelope (stdlib only).

The SDK calls ``GET|POST /v<major.minor>/<service>.<action>`` (or without the version prefix)
with a JSON body, and ``events.add_batch`` with JSON lines. Every answer is
``{"meta": {...}, "data": {...}}``. Status codes are 200, 400, 401, 404 or 500 only: the SDK
retries 429/502/503 (and waits forever on 503), so the stand-in must never send those.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import config as server_config
from .auth import (Authenticator, AuthError, TokenIssuer, User, credentials_from_config, fixed_users_from_config,
                   users_from_entries)
from .model import ApiError, Store

log = logging.getLogger("clearml_api_standin")

API_VERSION = "2.31"  # what clearml-server 2.x reports; the SDK picks its newest services module <= this
SERVER_VERSION = "2.0.0"
MAX_BODY = 64 * 1024 * 1024

_PATH = re.compile(r"^/(?:v(?P<version>\d+\.\d+)/)?(?P<endpoint>[A-Za-z_]\w*\.[A-Za-z_]\w*)/?$")


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections must not block shutdown
    allow_reuse_address = True  # a restart on the same port must not wait for TIME_WAIT

    def __init__(self, address, store: Store, authenticator: Authenticator, issuer: TokenIssuer):
        super().__init__(address, ApiHandler)
        self.store = store
        self.authenticator = authenticator
        self.issuer = issuer
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            # The client went away, or stop() cut the connection mid-request: not a server bug.
            log.debug("connection from %s lost", client_address)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut open keep-alive connections, as a process exit would: otherwise their handler
        threads go on answering from the old state after an in-process "restart"."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses one connection per session
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add
        # ~40 ms to every call on a keep-alive connection (the SDK makes hundreds per dataset).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_GET

    # -- request parsing ---------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(400, 0, f"Request body too large ({length} bytes)")
        return self.rfile.read(length) if length else b""

    def _parse_body(self, raw: bytes, query: dict):
        # The SDK puts its HTTP verb into every body ("method": "get"); it is not a field or a
        # filter, so drop it here before it reaches tasks.edit or a get_all filter.
        if "json-lines" in (self.headers.get("Content-Type") or ""):
            lines = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
            for item in lines:
                if isinstance(item, dict):
                    item.pop("method", None)
            return lines
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if isinstance(data, dict):
            data.pop("method", None)
            # Like the real server, query-string parameters (e.g. expiration_sec) join the body.
            for k, v in query.items():
                data.setdefault(k, v)
        return data

    # -- response ----------------------------------------------------------------------------

    def _send(self, code: int, endpoint: str, version: str | None, data=None, subcode: int = 0,
              msg: str = "OK", stack: str | None = None) -> None:
        meta = {
            "id": uuid.uuid4().hex, "trx": uuid.uuid4().hex,
            "endpoint": {"name": endpoint, "requested_version": version or API_VERSION,
                         "actual_version": version or API_VERSION},
            "result_code": code, "result_subcode": subcode, "result_msg": msg, "error_stack": stack,
            "error_data": {},
        }
        body = json.dumps({"meta": meta, "data": data if data is not None else {}}).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        m = _PATH.match(split.path)
        endpoint = m.group("endpoint") if m else split.path
        version = m.group("version") if m else None
        try:
            raw = self._read_body()  # always drain the body, or keep-alive breaks on errors
            if not m:
                raise ApiError(404, 0, f"Invalid request path {split.path}")
            if endpoint == "debug.ping":
                # No auth, like the real apiserver: this is the liveness probe.
                return self._send(200, endpoint, version, {"msg": "ClearML server (stand-in)"})
            try:
                data = self._parse_body(raw, dict(parse_qsl(split.query)))
            except (ValueError, UnicodeDecodeError) as ex:
                raise ApiError(400, 0, f"Invalid JSON in request body: {ex}")
            user = self.server.authenticator.authenticate(self.headers.get("Authorization"))
            if endpoint == "auth.login":
                return self._send(200, endpoint, version, self._login(user, data))
            result = self.server.store.handle(endpoint, data, user)
            self._send(200, endpoint, version, result)
        except AuthError as ex:
            self._send(401, endpoint, version, subcode=ex.subcode, msg=ex.msg)
        except ApiError as ex:
            self._send(ex.code, endpoint, version, subcode=ex.subcode, msg=ex.msg)
        except ConnectionError:
            raise  # nobody left to answer (see ApiServer.handle_error)
        except Exception as ex:  # a bug in the stand-in: say so, with 500 (never a retried code)
            stack = traceback.format_exc()
            log.error("internal error in %s: %s", endpoint, stack)
            self._send(500, endpoint, version, subcode=0, msg=f"Internal error: {ex}", stack=stack)

    def _login(self, user: User, data) -> dict:
        ttl = None
        if isinstance(data, dict) and data.get("expiration_sec"):
            try:
                ttl = int(data["expiration_sec"])
            except (TypeError, ValueError):
                raise ApiError(400, 0, "expiration_sec must be an integer")
        with self.server.store.lock:
            self.server.store.calls["auth.login"] += 1
        return {"token": self.server.issuer.issue(user, ttl)}


def make_server(host: str = "127.0.0.1", port: int = 0, state_file: str | None = None,
                credentials: dict | None = None, environ=None) -> ApiServer:
    """Build (not start) a server.

    ``credentials``: {name: {"user_key": ..., "user_secret": ..., "role"?, "display_name"?}}; when
    None they are ``secure.credentials`` of the server's settings: the config files of CLEARML_CONFIG_DIR
    and the ``CLEARML__...`` variables of ``environ`` (default os.environ), as config.py reads them.
    Fixed web users (``apiserver.auth.fixed_users``) always come from those settings.
    """
    settings = server_config.load(environ)
    users = users_from_entries(credentials) if credentials is not None else credentials_from_config(settings)
    fixed_users = fixed_users_from_config(settings)
    if not users and not fixed_users:
        raise ValueError("no credentials configured: set secure.credentials.<name>.user_key and .user_secret "
                         "(secure.conf or CLEARML__secure__credentials__...), or fixed users (the stand-in has "
                         "no built-in keys)")
    store = Store(state_file)
    issuer = TokenIssuer(store.token_secret, API_VERSION, SERVER_VERSION)
    return ApiServer((host, port), store, Authenticator(users, issuer, fixed_users), issuer)


class Running:
    """A server serving in a background thread; ``stop()`` (or leaving the ``with``) ends it."""

    def __init__(self, server: ApiServer):
        self.server = server
        self.url = server.url
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="clearml-api-standin", daemon=True)
        self._thread.start()
        self._stopped = False

    @property
    def store(self) -> Store:
        return self.server.store

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.server.store.close()
        self.server.close_connections()
        self._thread.join(timeout)

    def __enter__(self) -> "Running":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(port: int = 0, host: str = "127.0.0.1", state_file: str | None = None,
          credentials: dict | None = None, environ=None) -> tuple[Running, str]:
    """Start in-process; returns (handle, base URL). Port 0 picks a free port."""
    running = Running(make_server(host, port, state_file, credentials, environ))
    return running, running.url


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="clearml-api-standin",
        description="ClearML API server stand-in for tests (in memory, optionally kept in a JSON state file). "
                    "Credentials: secure.credentials.<name>.user_key / .user_secret, in secure.conf under "
                    "CLEARML_CONFIG_DIR (default /opt/trains/config:/opt/clearml/config) or as "
                    "CLEARML__secure__credentials__<name>__user_key / __user_secret.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8008, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--state-file", help="JSON file that keeps projects and tasks across restarts")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = make_server(args.host, args.port, args.state_file)
    except (ValueError, OSError) as ex:
        print(f"clearml-api-standin: {ex}", file=sys.stderr)
        return 2
    # Stop cleanly on SIGTERM too (docker stop, test teardown): shutdown() must run off the serving thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.store.close()
        server.close_connections()
    return 0
