"""The dataset verbs end to end: the real `clearstack` CLI (so the real ClearML SDK and boto3) over
HTTP against the ClearML API stand-in and the MinIO stand-in (one node with four drives, which
checks SigV4 signatures), each in its own process on loopback.

Stand-ins, not real servers: test names say `standin` where the result depends on them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
import yaml


KEY, SECRET = "CLEARSTACKTESTKEY01", "clearstack-test-secret-0001"
BUCKET, OUTPUTS = "clearml", "clearml-outputs"
S3_USER, S3_PASSWORD = "clearstack-test", "minio-test-password-01"
CLI_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """One MinIO stand-in node with four drives; yields (port, boto3 client); stopped by PID after."""
    root = tmp_path_factory.mktemp("minio")
    for i in range(1, 5):
        (root / f"data{i}").mkdir()
    port = _free_port()
    env = {**os.environ, "MINIO_ROOT_USER": S3_USER, "MINIO_ROOT_PASSWORD": S3_PASSWORD}
    log = (root / "minio.log").open("w")
    node = subprocess.Popen([sys.executable, "-m", "standins.minio", "server", "--address", f"127.0.0.1:{port}",
                             f"{root}/data{{1...4}}"], cwd=Path(__file__).resolve().parents[1], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _healthy(port):
            assert node.poll() is None and time.monotonic() < deadline, (root / "minio.log").read_text()
            time.sleep(0.2)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id=S3_USER, aws_secret_access_key=S3_PASSWORD)
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=OUTPUTS)
        yield port, client
    finally:
        node.terminate()
        node.wait(timeout=20)
        log.close()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/minio/health/cluster", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def api_server():
    """The ClearML API stand-in as a process, with the operator's keys preset as the real server takes them."""
    env = {**os.environ, "CLEARML__secure__credentials__operator__user_key": f'"{KEY}"',
           "CLEARML__secure__credentials__operator__user_secret": f'"{SECRET}"'}
    server = subprocess.Popen([sys.executable, "-m", "standins.clearml_api", "--host", "127.0.0.1", "--port", "0",
                               "--log-level", "WARNING"], cwd=Path(__file__).resolve().parents[1], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        watchdog = threading.Timer(30, server.kill)  # bounds the wait if it never prints
        watchdog.start()
        first = server.stdout.readline()  # "listening on URL", printed once the socket is bound
        watchdog.cancel()
        assert first.startswith("listening on "), f"API stand-in did not start: {first!r}"
        yield first.split()[-1]
    finally:
        server.terminate()
        server.wait(timeout=20)


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
        "clearml_client_api_host": api_server, "clearml_client_web_host": api_server,
        "clearml_client_files_host": f"s3://127.0.0.1:{port}/{OUTPUTS}/clearml",
        "clearml_client_s3_endpoint": f"127.0.0.1:{port}",
        # Keys under the secret store's names, as the driver passes them.
        "clearml_operator_access_key": KEY, "clearml_operator_secret_key": SECRET,
        "minio_root_user": S3_USER, "minio_root_password": S3_PASSWORD}))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           "-e", f"@{settings}", str(root / "playbooks/clearml_client.yml")],
                          capture_output=True, text=True, timeout=300, cwd=root,
                          env={**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
                               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir / "clearml.conf"


@pytest.fixture
def run(clearml_conf, tmp_path):
    """Run `clearstack ARGS --json` with a clean environment; returns (rc, parsed json or None, stderr)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "AWS_"))}
    env.update(HOME=str(home), CLEARML_CONFIG_FILE=str(clearml_conf), PYTHONUNBUFFERED="1")

    def invoke(*args: str, conf_env: dict | None = None):
        proc = subprocess.run([str(Path(sys.executable).parent / "clearstack"), *args, "--json"],
                              env={**env, **(conf_env or {})}, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        try:
            out = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            out = None
        return proc.returncode, out, proc.stderr + ("" if out is not None else proc.stdout)
    return invoke


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


def test_standin_ingest_registers_links_and_reingest_makes_no_version(run, images):
    source, _, _ = images
    project = _project()
    first = _ingest(run, source, project)
    assert first["created"] and first["files"] == 10 and first["added"] == 10
    shown = _files(run, first["dataset_id"])
    assert shown["files"] == 10
    assert all(p.startswith("imagens/cam") and p.endswith(".png") for p in shown["first_files"])

    again = _ingest(run, source, project)
    assert again == {**again, "dataset_id": first["dataset_id"], "created": False, "files": 10}


def test_standin_clearml_outputs_in_the_source_bucket_are_never_ingested(run, images, s3_server):
    """Dataset state (and previews) written under the source prefix must not show up as new files."""
    source, _, _ = images
    project = _project()
    first = _ingest(run, source, project, "ds", "--output-uri", source + "clearml-outputs/")
    assert first["files"] == 10
    _, client = s3_server
    prefix = source.split(f"/{BUCKET}/", 1)[1]
    written = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "clearml-outputs/").get("Contents", [])]
    assert written, "the dataset state should have been written under the source prefix"
    rc, again, err = run("ingest", source, "--project", project, "--name", "ds", "--dataset-path", "/imagens",
                         "--output-uri", source + "clearml-outputs/")  # no wildcard: every object would match
    assert rc == 0, err
    assert again["files"] == 11 and again["added"] == 1, again  # notes.txt joins; the state files do not


def test_standin_incremental_ingest_makes_a_child_with_just_the_difference(run, images):
    source, put, delete = images
    project = _project()
    first = _ingest(run, source, project)
    put("cam0/new1.png")
    put("cam1/new2.png")
    delete("cam0/img00.png")
    second = _ingest(run, source, project)
    assert second["created"] and second["dataset_id"] != first["dataset_id"]
    assert (second["files"], second["added"], second["removed"]) == (11, 2, 1)
    shown = _files(run, second["dataset_id"])
    assert shown["parents"] == [first["dataset_id"]]


def test_standin_subset_by_each_selection_kind(run, images, tmp_path):
    source, _, _ = images
    project = _project()
    parent = _ingest(run, source, project)["dataset_id"]
    listing = tmp_path / "keep.txt"
    listing.write_text("imagens/cam0/img02.png\n/imagens/cam1/img03.png\n")
    cases = {
        "by-wildcard": (["--wildcard", "img0[12].png"], 2),
        "by-prefix": (["--prefix", "imagens/cam1/"], 5),
        "by-count": (["--max-count", "3"], 3),
        "by-sample": (["--sample", "4", "--seed", "7"], 4),
        "by-fraction": (["--fraction", "0.5", "--seed", "1"], 5),
        "by-file": (["--from-file", str(listing)], 2),
    }
    for name, (selection, count) in cases.items():
        rc, out, err = run("subset", "--parent-id", parent, "--name", name, *selection)
        assert rc == 0, f"{name}: {err}"
        assert out["files"] == count, name
        shown = _files(run, out["dataset_id"])
        assert shown["parents"] == [parent] and shown["files"] == count, name


def test_standin_same_subset_twice_is_one_dataset(run, images):
    source, _, _ = images
    project = _project()
    _ingest(run, source, project)
    args = ("subset", "--parent-project", project, "--parent-name", "ds", "--name", "two", "--max-count", "2")
    rc1, first, err1 = run(*args)
    rc2, second, err2 = run(*args)
    assert rc1 == rc2 == 0, err1 + err2
    assert first["created"] and not second["created"]
    assert second["dataset_id"] == first["dataset_id"]


def test_standin_get_fetches_the_subset_and_fails_on_a_missing_object(run, images, tmp_path):
    source, _, delete = images
    project = _project()
    _ingest(run, source, project)
    rc, sub, err = run("subset", "--parent-project", project, "--parent-name", "ds", "--name", "pair",
                       "--wildcard", "img0[45].png")
    assert rc == 0, err

    rc, got, err = run("datasets", "get", "--id", sub["dataset_id"], "--to", str(tmp_path / "copy"))
    assert rc == 0, err
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == ["imagens/cam0/img04.png", "imagens/cam1/img05.png"]

    rc, cached, err = run("datasets", "get", "--id", sub["dataset_id"])  # into the SDK's cache
    assert rc == 0 and cached["files"] == 2, err

    delete("cam1/img05.png")
    rc, _, err = run("datasets", "get", "--id", sub["dataset_id"], "--to", str(tmp_path / "copy2"))
    assert rc == 1
    assert "1 of 2 file(s) could not be fetched: imagens/cam1/img05.png" in err
    assert not (tmp_path / "copy2").exists(), "a partial folder was left behind"


@pytest.mark.parametrize("source_of,selection,message", [
    (lambda s: "s3://127.0.0.1/clearml/x/", ["--wildcard", "*.png"], "has no port"),
    (lambda s: s, ["--wildcard", "*.jpg"], "nothing under"),
    (lambda s: s.replace("/clearml/", "/no-such-bucket/"), ["--wildcard", "*.png"], "bucket 'no-such-bucket' does not exist"),
    (lambda s: s.replace("127.0.0.1:", "localhost:"), ["--wildcard", "*.png"], "refused the S3 credentials"),
    (lambda s: s.replace("127.0.0.1:", "127.0.0.2:"), ["--wildcard", "*.png"], "no S3 credentials"),
])
def test_standin_bad_ingest_input_is_refused_and_creates_nothing(run, images, source_of, selection, message):
    source, _, _ = images
    project = _project()
    rc, _, err = run("ingest", source_of(source), "--project", project, "--name", "ds", *selection)
    assert rc == 1 and message in err, err
    rc, out, err = run("datasets", "list", "--project", project)
    assert rc == 0 and out["datasets"] == [], err


def test_standin_unreachable_servers_are_clear_errors_within_seconds(run, images, dead_port):
    source, _, _ = images
    project = _project()
    rc, _, err = run("ingest", source.replace(source.split("/")[2], f"127.0.0.1:{dead_port}"), "--project", project,
                     "--name", "ds", "--wildcard", "*.png")
    assert rc == 1 and f"cannot reach S3 at 127.0.0.1:{dead_port}" in err, err
    rc, _, err = run("ingest", source, "--project", project, "--name", "ds", "--wildcard", "*.png",
                     conf_env={"CLEARML_API_HOST": f"http://127.0.0.1:{dead_port}"})
    assert rc == 1 and f"the ClearML API at http://127.0.0.1:{dead_port} does not answer" in err, err
    rc, out, err = run("datasets", "list", "--project", project)
    assert rc == 0 and out["datasets"] == [], err


def test_standin_wrong_api_keys_are_refused_with_an_error(run, images):
    source, _, _ = images
    project = _project()
    rc, _, err = run("ingest", source, "--project", project, "--name", "ds", "--wildcard", "*.png",
                     conf_env={"CLEARML_API_ACCESS_KEY": KEY, "CLEARML_API_SECRET_KEY": "wrong-secret-0000"})
    assert rc == 1
    assert "Traceback" not in err and ("401" in err or "nvalid" in err or "auth" in err.lower()), err


def test_standin_default_pipeline_runs_the_runbook_example_and_reruns_unchanged(run, s3_server):
    port, client = s3_server
    bucket_url = f"s3://127.0.0.1:{port}/clearml/"
    # The runbook's bucket `clearml` is shared with the other tests: use a project of our own via a spec copy.
    rc, out, err = run("demo-data", bucket_url + "demo/", "--count", "6")
    assert rc == 0 and len(out["keys"]) == 6, err
    rc, first, err = run("run", "--s3-endpoint", f"127.0.0.1:{port}")
    assert rc == 0, err
    ingest, sub = first["results"]
    assert (ingest["project"], ingest["name"], sub["name"]) == ("meu_projeto", "meu_dataset", "meu_dataset_subconjunto")
    assert ingest["files"] == len([k for k in _keys(client) if k.endswith(".png")])
    assert sub["files"] == 2 and sub["parent_id"] == ingest["dataset_id"]

    rc, second, err = run("run", "--s3-endpoint", f"127.0.0.1:{port}")
    assert rc == 0, err
    assert [r["dataset_id"] for r in second["results"]] == [ingest["dataset_id"], sub["dataset_id"]]
    assert not any(r["created"] for r in second["results"])


def _keys(client) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_standin_runbook_subset_recipe_next_to_clearstack_subset(run, s3_server, clearstack_conf, images, tmp_path):
    """The runbook's snippets, host names changed, with the clearml.conf clearstack writes: its
    'subset' inherits every parent file and nests the chosen ones one folder too deep; clearstack's
    holds exactly 2."""
    port, client = s3_server
    project = _project()
    home = tmp_path / "runbook-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "AWS_"))}
    env.update(HOME=str(home), CLEARML_CONFIG_FILE=str(clearstack_conf), S3_HOST=f"127.0.0.1:{port}")
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("runbook_snippets.py")), project, "meu_dataset"],
                          env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    runbook = json.loads(lines[-1][len("RESULT "):])

    rc, ours, err = run("subset", "--parent-project", project, "--parent-name", "meu_dataset",
                        "--name", "meu_dataset_subconjunto_clearstack", "--max-count", "2",
                        conf_env={"CLEARML_CONFIG_FILE": str(clearstack_conf)})
    assert rc == 0, err
    ours_files = _files(run, ours["dataset_id"])["first_files"]

    pngs = runbook["parent_files"]
    assert pngs >= 10, "the images fixture put 10 PNGs in the bucket"
    assert len(runbook["subset_files"]) == pngs + 2, "the recipe's child inherits all parent files, plus 2"
    nested = [p for p in runbook["subset_files"] if p.count(".png") == 2]
    assert len(nested) == 2 and all(p.split("/")[-1] == p.split("/")[-2] for p in nested), nested
    assert len(ours_files) == 2 and all(p.count(".png") == 1 for p in ours_files)
    print(f"\nrunbook subset: {len(runbook['subset_files'])} files, e.g. {nested[0]}"
          f"\nclearstack subset: {len(ours_files)} files: {ours_files}")
