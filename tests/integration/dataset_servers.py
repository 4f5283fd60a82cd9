"""Servers and CLI helpers the dataset tests share: the real MinIO server (one node, four drives, erasure
coded; the release and its binary are tests/minio_server.py's) and the ClearML API stand-in, each its
own process on loopback, plus the `clearstack` CLI run with a clean environment against them.

tests/integration/conftest.py imports the fixtures, so every integration module can use them;
module-scoped ones start once per module (and per xdist worker) and are stopped by PID after.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

import minio_server

KEY, SECRET = "CLEARSTACKTESTKEY01", "clearstack-test-secret-0001"
FINALIZED = {"completed", "published", "stopped", "closed"}  # the task statuses Dataset.list_datasets counts
# The ClearML SDK prints this on stderr once a version exists (Dataset.create); the rest of an ingest or
# subset (state upload, finalize, read-back) is still to come.
VERSION_CREATED = "ClearML results page"
BUCKET, OUTPUTS = "clearml", "clearml-outputs"
S3_USER, S3_PASSWORD = "clearstack-test", "minio-test-password-01"
CLI_TIMEOUT_S = 180
TESTS_DIR = Path(__file__).resolve().parents[1]
CLEARSTACK = str(Path(sys.executable).parent / "clearstack")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """One real MinIO node with four drives (tests/minio_server.py), the buckets the tests use made in it;
    yields (port, boto3 client); stopped by PID after, whatever happened."""
    minio_server.binary_or_fail()
    node = minio_server.MinioNode(tmp_path_factory.mktemp("minio"), S3_USER, S3_PASSWORD)
    try:
        node.start()
        client = boto3.client("s3", endpoint_url=f"http://{node.endpoint}", region_name="us-east-1",
                              aws_access_key_id=S3_USER, aws_secret_access_key=S3_PASSWORD)
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=OUTPUTS)
        yield node.port, client
    finally:
        node.stop()


def start_api_standin(port: int = 0, state_file: Path | None = None) -> tuple[subprocess.Popen, str]:
    """The ClearML API stand-in as a process, with the operator's keys preset as the real server takes
    them; returns (process, URL) once it listens. The caller stops it by PID."""
    env = {**os.environ, "CLEARML__secure__credentials__operator__user_key": f'"{KEY}"',
           "CLEARML__secure__credentials__operator__user_secret": f'"{SECRET}"'}
    state = ["--state-file", str(state_file)] if state_file else []
    server = subprocess.Popen([sys.executable, "-m", "standins.clearml_api", "--host", "127.0.0.1", "--port", str(port),
                               "--log-level", "WARNING", *state], cwd=TESTS_DIR, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(30, server.kill)  # bounds the wait if it never prints
    watchdog.start()
    first = server.stdout.readline()  # "listening on URL", printed once the socket is bound
    watchdog.cancel()
    if not first.startswith("listening on "):
        stop(server)
        raise AssertionError(f"API stand-in did not start: {first!r}")
    return server, first.split()[-1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process this test started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def api_server():
    """The ClearML API stand-in's URL (in-memory state)."""
    server, url = start_api_standin()
    try:
        yield url
    finally:
        stop(server)


def api_call(api_url: str, endpoint: str, body: dict, key: str = KEY, secret: str = SECRET) -> dict:
    """One call to the ClearML API as any client makes it (a login with the keys, then the call); its data."""
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    login = urllib.request.Request(f"{api_url}/auth.login", data=b"{}", method="POST",
                                   headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"})
    with urllib.request.urlopen(login, timeout=10) as resp:
        token = json.load(resp)["data"]["token"]
    call = urllib.request.Request(f"{api_url}/{endpoint}", data=json.dumps(body).encode(), method="POST",
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(call, timeout=10) as resp:
        return json.load(resp)["data"]


def api_tasks(api_url: str, key: str = KEY, secret: str = SECRET) -> dict[str, dict]:
    """Every task the API holds, hidden dataset tasks and drafts included: id -> whole document (so any
    edit shows in last_update). Asked over HTTP, so it sees what `datasets list` (finalized only) does not."""
    tasks = api_call(api_url, "tasks.get_all", {"search_hidden": True, "page_size": 10000}, key, secret)["tasks"]
    return {t["id"]: t for t in tasks}


# ---- a clearstack run in its own process group (start_new_session=True), held or ended as a whole ----

@contextlib.contextmanager
def frozen(proc: subprocess.Popen) -> Iterator[None]:
    """The run stopped (SIGSTOP) for the block, so a fault can be put in place at a known point of it;
    continued (SIGCONT) afterwards, whatever happened."""
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGCONT)


@contextlib.contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The run killed (SIGKILL) if it is still going when the block ends, e.g. after a failed assertion."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def dead_port():
    """A loopback port nothing listens on (bound, then released)."""
    return _free_port()


@pytest.fixture(scope="module")
def clearml_conf(tmp_path_factory, s3_server, api_server, dead_port):
    port, _ = s3_server
    path = tmp_path_factory.mktemp("conf") / "clearml.conf"
    path.write_text(textwrap.dedent(f"""\
        api {{
          api_server: "{api_server}"
          web_server: "{api_server}"
          files_server: "s3://127.0.0.1:{port}/{OUTPUTS}/clearml"
          credentials {{ access_key: "{KEY}", secret_key: "{SECRET}" }}
        }}
        sdk {{
          aws {{ s3 {{ credentials: [
            {{ host: "127.0.0.1:{port}", key: "{S3_USER}", secret: "{S3_PASSWORD}", secure: false, multipart: true }}
            {{ host: "127.0.0.1:{dead_port}", key: "{S3_USER}", secret: "{S3_PASSWORD}", secure: false, multipart: true }}
            {{ host: "localhost:{port}", key: "{S3_USER}", secret: "not-the-password", secure: false, multipart: true }}
          ] }} }}
        }}
        """))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def clearstack_conf(tmp_path_factory, s3_server, api_server):
    """The operator's clearml.conf as clearstack writes it: playbooks/clearml_client.yml, with only the
    addresses of this test's servers in place of the ClearML host's."""
    port, _ = s3_server
    workdir = tmp_path_factory.mktemp("clearstack-conf")
    inventory = workdir / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"clearml_server": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    settings = workdir / "vars.yml"
    settings.write_text(yaml.safe_dump({
        "clearml_client_config_path": str(workdir / "clearml.conf"),
        "clearml_server_api_url": api_server, "clearml_server_web_url": api_server,
        "clearml_server_files_url": f"s3://127.0.0.1:{port}/{OUTPUTS}/clearml",
        "minio_s3_endpoint": f"127.0.0.1:{port}",
        # Keys under the secret store's names, as the driver passes them.
        "clearml_server_operator_access_key": KEY, "clearml_server_operator_secret_key": SECRET,
        "minio_root_user": S3_USER, "minio_root_password": S3_PASSWORD}))
    root = TESTS_DIR.parent
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           "-e", f"@{settings}", str(root / "playbooks/clearml_client.yml")],
                          capture_output=True, text=True, timeout=300, cwd=root,
                          env={**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
                               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir / "clearml.conf"


def cli_environment(clearml_conf: Path, home: Path) -> dict[str, str]:
    """The environment `clearstack` runs in: no CLEARML_*/AWS_* of the caller, HOME, our clearml.conf."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "AWS_"))}
    env.update(HOME=str(home), CLEARML_CONFIG_FILE=str(clearml_conf), PYTHONUNBUFFERED="1")
    return env


def runner(env: dict[str, str]):
    """`invoke(*ARGS)` runs `clearstack ARGS --json`; returns (rc, parsed json or None, stderr). Thread-safe."""

    def invoke(*args: str, conf_env: dict | None = None, timeout: float = CLI_TIMEOUT_S):
        proc = subprocess.run([CLEARSTACK, *args, "--json"], env={**env, **(conf_env or {})},
                              capture_output=True, text=True, timeout=timeout)
        try:
            out = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            out = None
        return proc.returncode, out, proc.stderr + ("" if out is not None else proc.stdout)
    return invoke


@pytest.fixture
def cli_env(clearml_conf, tmp_path):
    return cli_environment(clearml_conf, tmp_path / "home")


@pytest.fixture
def run(cli_env):
    """Run `clearstack ARGS --json` with a clean environment; returns (rc, parsed json or None, stderr)."""
    return runner(cli_env)


@pytest.fixture
def images(s3_server):
    """Ten PNGs under a fresh prefix (two folders), plus a text file; returns (source URL, put, delete)."""
    port, client = s3_server
    prefix = f"raw-{uuid.uuid4().hex[:8]}/"

    def put(name: str, body: bytes | None = None):
        client.put_object(Bucket=BUCKET, Key=prefix + name, Body=body or f"PNG {name} {uuid.uuid4()}".encode())

    def delete(name: str):
        client.delete_object(Bucket=BUCKET, Key=prefix + name)

    for i in range(10):
        put(f"cam{i % 2}/img{i:02d}.png")
    put("notes.txt", b"not an image")
    return f"s3://127.0.0.1:{port}/{BUCKET}/{prefix}", put, delete


def _project() -> str:
    return f"proj-{uuid.uuid4().hex[:6]}"


def _ingest(run, source, project, name="ds", *extra):
    rc, out, err = run("ingest", source, "--project", project, "--name", name, "--wildcard", "*.png",
                       "--dataset-path", "/imagens", *extra)
    assert rc == 0 and out is not None, err
    return out


def _files(run, dataset_id):
    rc, out, err = run("datasets", "show", "--id", dataset_id)
    assert rc == 0, err
    return out


def error_gist(text: str, limit: int = 160) -> str:
    """The gist of a failed run for the reliability table: the CLI's one-line error ("clearstack VERB: ...")
    if it printed one, else the last line; trimmed."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    ours = [ln for ln in lines if ln.startswith("clearstack ")]
    gist = (ours or lines or ["(no output)"])[-1]
    return gist if len(gist) <= limit else gist[: limit - 3] + "..."
