"""The clearml-server stack stand-ins (tests/standins/clearml_services) answer what the compose
healthchecks ask, and stop at once on SIGTERM. Everything stays on loopback; every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .clearml_services import elasticsearch, fileserver, mongod, mongosh, webserver
from .clearml_services.common import Server

STANDINS = Path(__file__).resolve().parent


@pytest.fixture
def serving():
    started = []

    def _serve(server):
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        started.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield _serve
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _request(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def test_webserver_serves_a_page(serving):
    url = serving(Server(("127.0.0.1", 0), webserver.Handler))
    code, body, headers = _request(url + "/")
    assert code == 200 and b"<html>" in body and headers["Content-Type"].startswith("text/html")
    assert _request(url + "/nothing")[0] == 404


def test_fileserver_stores_and_serves_files(serving, tmp_path):
    url = serving(fileserver.FileServer(("127.0.0.1", 0), str(tmp_path)))
    assert _request(url + "/", "OPTIONS")[0] == 200
    assert _request(url + "/p/a.bin", "PUT", b"\x00abc")[0] == 200
    assert _request(url + "/p/a.bin")[:2] == (200, b"\x00abc")
    boundary = "standinboundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"x/b.txt\"; filename=\"b.txt\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    code, body, _ = _request(url + "/up", "POST", form, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 200 and json.loads(body) == ["up/x/b.txt"]
    assert (tmp_path / "up/x/b.txt").read_bytes() == b"hello"
    assert _request(url + "/up/x/b.txt", "DELETE")[0] == 200
    assert _request(url + "/up/x/b.txt")[0] == 404
    assert _request(url + "/..%2F..%2Fetc/passwd")[0] == 404
    assert _request(url + "/..%2Fescape", "PUT", b"x")[0] == 400
    assert not (tmp_path.parent / "escape").exists()


def test_elasticsearch_reports_8_17_and_green_health(serving, monkeypatch):
    monkeypatch.setenv("cluster.name", "clearml")
    url = serving(Server(("127.0.0.1", 0), elasticsearch.Handler))
    code, body, headers = _request(url + "/")
    assert code == 200 and json.loads(body)["version"]["number"] == "8.17.0"
    assert headers["X-elastic-product"] == "Elasticsearch"
    code, body, _ = _request(url + "/_cluster/health?wait_for_status=yellow&timeout=5s")
    assert code == 200 and json.loads(body)["status"] == "green"
    assert json.loads(body)["cluster_name"] == "clearml"
    assert _request(url + "/some-index/_search")[0] == 404


def test_mongosh_pings_the_mongod_standin():
    server = mongod.Server(("127.0.0.1", 0), mongod.Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        socket.create_connection(("127.0.0.1", port), 5).close()  # async_delete's TCP probe: harmless
        health = ["--quiet", "--eval", "quit(db.adminCommand('ping').ok ? 0 : 2)"]
        assert mongosh.main([*health, "--port", str(port)]) == 0
        assert mongosh.main([*health, f"mongodb://u:p@127.0.0.1:{port}/admin?authSource=admin"]) == 0
        assert mongosh.main([*health, "--host", f"127.0.0.1:{port}"]) == 0
        assert mongosh.main(["--eval", "db.adminCommand({ping: 1})", "--port", str(port)]) == 0
        assert mongosh.main(["--eval", "db.stats()", "--port", str(port)]) == 1  # not understood: unhealthy
        assert mongosh.main(["--port", str(port)]) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert mongosh.main([*health, "--port", str(port)]) == 1  # nobody listens any more


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_line(proc: subprocess.Popen, seconds: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert box and box[0], f"no output within {seconds} s"
    return box[0]


@pytest.mark.parametrize("module,args", [
    ("clearml_services.mongod", ["--bind_ip", "127.0.0.1", "--port", "{port}",
                                 "--setParameter", "internalQueryMaxBlockingSortMemoryUsageBytes=196100200"]),
    ("clearml_services.webserver", ["--host", "127.0.0.1", "--port", "{port}"]),
    ("clearml_services.fileserver", ["--host", "127.0.0.1", "--port", "{port}", "--root", "{tmp}"]),
    ("jobs.async_urls_delete", ["--fileserver-host", "http://127.0.0.1:{port}"]),
], ids=["mongod", "webserver", "fileserver", "async_urls_delete"])
def test_command_line_and_quick_exit_on_sigterm(module, args, tmp_path):
    port = _free_port()
    argv = [a.format(port=port, tmp=tmp_path) for a in args]
    # The jobs package is found on its own path, as with the compose file's PYTHONPATH=/opt/clearml/apiserver.
    path = STANDINS / "clearml_services" if module.startswith("jobs.") else STANDINS
    env = {**os.environ, "PYTHONPATH": str(path)}
    log = open(tmp_path / "err.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], env=env, stdout=subprocess.PIPE, stderr=log,
                            text=True)
    try:
        line = _wait_for_line(proc, 20) if module != "clearml_services.mongod" else ""
        if module == "clearml_services.mongod":
            deadline = time.monotonic() + 20
            while mongosh.main(["--eval", "db.adminCommand('ping')", "--port", str(port)]) != 0:
                assert time.monotonic() < deadline and proc.poll() is None, "mongod stand-in did not come up"
                time.sleep(0.1)
        elif module.startswith("jobs."):
            assert f"http://127.0.0.1:{port}" in line
        else:
            assert line.startswith(f"listening on 127.0.0.1:{port}")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    if module == "clearml_services.mongod":
        assert "internalQueryMaxBlockingSortMemoryUsageBytes=196100200" in (tmp_path / "err.log").read_text()


def test_mongod_refuses_a_malformed_set_parameter():
    with pytest.raises(SystemExit):
        mongod.main(["--setParameter", "novalue"])
