"""The ClearML API stand-in serves the REAL clearml SDK's dataset flows.

Each SDK flow runs in its own subprocess (the SDK keeps process-global state: session, config,
cache), configured only by environment and a clearml.conf in tmp_path, against:
  - the stand-in, started in-process (so a test can inspect ``store.calls``/``unknown_calls``);
  - a moto S3 server on 127.0.0.1 holding the source objects and the datasets' output files.
Everything stays on loopback and every wait is bounded (subprocess timeouts, joins).
Flow durations are printed as "[timing] ..." lines (shown with -s or -rP) and recorded as
junit properties.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .clearml_api import start

REPO = Path(__file__).resolve().parents[2]
KEY, SECRET = "STANDINTESTKEY0001", "standin-test-secret-0001"
CREDENTIALS = {"tests": {"user_key": KEY, "user_secret": SECRET}}
FLOW_TIMEOUT = 120  # seconds; a flow takes ~2 s, so hitting this means something hangs
SOURCE_BUCKET, OUTPUT_BUCKET = "source", "outputs"


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits on an event without a timeout (forever if binding fails): bound it.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(30)
    assert not starter.is_alive(), "moto server did not start within 30 s"
    port = server.get_host_and_port()[1]
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                      aws_access_key_id="moto", aws_secret_access_key="moto")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.create_bucket(Bucket=OUTPUT_BUCKET)
    yield port, s3
    server.stop()


@pytest.fixture
def api():
    running, _ = start(port=0, credentials=CREDENTIALS)  # in memory; the restart tests use a state file
    yield running
    running.stop()


@pytest.fixture
def objects(moto):
    """Ten small .png objects (two folders) plus one .txt under a fresh prefix; returns (prefix, {key: bytes})."""
    _, s3 = moto
    prefix = f"raw-{uuid.uuid4().hex[:8]}"
    content = {}
    for i in range(10):
        key = f"{prefix}/cam{i % 2}/img{i:02d}.png"
        content[key] = f"\x89PNG fake image {i} {uuid.uuid4().hex}".encode()
        s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=content[key])
    s3.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}/notes.txt", Body=b"not an image")
    return prefix, content


def _sdk_env(tmp_path: Path, api_url: str, moto_port: int, secret: str = SECRET, tag: str = "") -> dict:
    conf = tmp_path / "clearml.conf"
    conf.write_text(textwrap.dedent(f"""\
        sdk {{
          aws {{
            s3 {{
              region: "us-east-1"
              credentials: [
                {{ host: "127.0.0.1:{moto_port}", key: "moto", secret: "moto", secure: false, multipart: true }}
              ]
            }}
          }}
        }}
        """))
    # Start from a clean environment: no ClearML/AWS settings of the developer leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "TRAINS", "AWS_"))}
    home = tmp_path / f"home{tag}"  # the SDK caches downloads under ~/.clearml
    home.mkdir(exist_ok=True)
    env.update({
        "HOME": str(home),
        "CLEARML_CONFIG_FILE": str(conf),
        "CLEARML_API_HOST": api_url,
        "CLEARML_WEB_HOST": api_url,  # only used to print links; the SDK never calls it here
        # Dataset state and uploads go to S3, never to the API server.
        "CLEARML_FILES_HOST": f"s3://127.0.0.1:{moto_port}/{OUTPUT_BUCKET}/clearml",
        "CLEARML_API_ACCESS_KEY": KEY,
        "CLEARML_API_SECRET_KEY": secret,
        "MOTO_PORT": str(moto_port),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _run_flow(name: str, code: str, env: dict, record_property, timeout: float = FLOW_TIMEOUT) -> tuple[dict, float]:
    """Run an SDK flow in a fresh interpreter; it must print one line 'RESULT <json>'."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    print(f"[timing] {name}: {elapsed:.2f} s")
    record_property(f"{name}_seconds", round(elapsed, 2))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"{name} printed no RESULT (rc={proc.returncode})\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    # The SDK only logs a refused call or an answer it cannot parse, and goes on: catch that here.
    for complaint in ("Action failed", "Failed parsing response"):
        assert complaint not in proc.stdout + proc.stderr, f"{name}: SDK logged {complaint!r}:\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):]), elapsed


def _call(url: str, endpoint: str, body=None, auth: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"{url}/{endpoint}", data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _basic(key: str = KEY, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def _token(url: str) -> str:
    code, body = _call(url, "v2.23/auth.login", auth=_basic())
    assert code == 200, body
    return "Bearer " + body["data"]["token"]


# Creates a parent dataset of external links, then (optionally) a child without some entries.
CREATE_FLOW = """
    import json, os
    from clearml import Dataset
    port, prefix, project = os.environ["MOTO_PORT"], os.environ["PREFIX"], os.environ["PROJECT"]
    ds = Dataset.create(dataset_project=project, dataset_name="raw")
    added = ds.add_external_files(source_url=f"s3://127.0.0.1:{port}/source/{prefix}/",
                                  wildcard="*.png", recursive=True)
    ds.upload()
    ds.finalize()
    result = {"parent": ds.id, "added": added}
    remove = json.loads(os.environ.get("REMOVE", "[]"))
    if remove:
        child = Dataset.create(dataset_project=project, dataset_name="subset", parent_datasets=[ds.id])
        for path in remove:
            child.remove_files(path, recursive=False)
        child.upload()
        child.finalize()
        result["child"] = child.id
    print("RESULT " + json.dumps(result))
"""

# Finds a dataset by project/name and downloads it.
GET_FLOW = """
    import json, os
    from pathlib import Path
    from clearml import Dataset
    ds = Dataset.get(dataset_project=os.environ["PROJECT"], dataset_name=os.environ["NAME"])
    folder = Path(ds.get_local_copy())
    files = {str(p.relative_to(folder)): p.read_bytes().decode("latin-1")
             for p in sorted(folder.rglob("*")) if p.is_file()}
    print("RESULT " + json.dumps({"id": ds.id, "listed": sorted(ds.list_files()), "files": files}))
"""


def _no_unknown_endpoints(api) -> None:
    assert api.store.unknown_calls == [], f"the SDK called endpoints the stand-in lacks: {api.store.unknown_calls}"


# ---------------------------------------------------------------------------------------------
# 1. + 2. Dataset of external S3 links, and a child subset, with the real SDK
# ---------------------------------------------------------------------------------------------

def test_dataset_of_external_links_round_trip(api, moto, objects, tmp_path, record_property):
    port, _ = moto
    prefix, content = objects
    env = _sdk_env(tmp_path, api.url, port)
    env.update(PREFIX=prefix, PROJECT="standin/flow1")

    created, _ = _run_flow("flow1_create_add_upload_finalize", CREATE_FLOW, env, record_property)
    assert created["added"] == 10  # the .txt is not matched by *.png

    env.update(NAME="raw", HOME=str(tmp_path / "home-get"))
    Path(env["HOME"]).mkdir()
    got, _ = _run_flow("flow1_get_list_get_local_copy", GET_FLOW, env, record_property)
    assert got["id"] == created["parent"]
    expected = {key[len(prefix) + 1:]: data.decode("latin-1") for key, data in content.items()}
    assert got["listed"] == sorted(expected)
    assert got["files"] == expected  # same names, same bytes
    _no_unknown_endpoints(api)
    print(f"[calls] flow1: {dict(sorted(api.store.calls.items()))}")


def test_child_dataset_without_removed_entries(api, moto, objects, tmp_path, record_property):
    port, s3 = moto
    prefix, content = objects
    removed = ["cam0/img00.png", "cam1/img03.png", "cam0/img08.png"]
    env = _sdk_env(tmp_path, api.url, port)
    env.update(PREFIX=prefix, PROJECT="standin/flow2", REMOVE=json.dumps(removed))

    created, _ = _run_flow("flow2_parent_and_child", CREATE_FLOW, env, record_property)
    assert created["added"] == 10 and created["child"] != created["parent"]

    # Delete the removed objects from S3: if the child still referenced them, its download
    # would come back short.
    for path in removed:
        s3.delete_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}/{path}")

    env.update(NAME="subset", HOME=str(tmp_path / "home-get"))
    Path(env["HOME"]).mkdir()
    got, _ = _run_flow("flow2_get_child_local_copy", GET_FLOW, env, record_property)
    kept = {key[len(prefix) + 1:]: data.decode("latin-1") for key, data in content.items()
            if key[len(prefix) + 1:] not in removed}
    assert got["id"] == created["child"]
    assert got["listed"] == sorted(kept)
    assert got["files"] == kept
    _no_unknown_endpoints(api)


# ---------------------------------------------------------------------------------------------
# 3. Authentication
# ---------------------------------------------------------------------------------------------

WRONG_SECRET_FLOW = """
    import json
    from clearml import Dataset
    try:
        Dataset.create(dataset_project="standin/auth", dataset_name="never")
        print("RESULT " + json.dumps({"error": None}))
    except Exception as ex:
        print("RESULT " + json.dumps({"error": type(ex).__name__, "msg": str(ex)}))
"""


def test_wrong_secret_fails_fast_with_auth_error(api, moto, tmp_path, record_property):
    env = _sdk_env(tmp_path, api.url, moto[0], secret="not-the-secret")
    result, elapsed = _run_flow("flow3_wrong_secret", WRONG_SECRET_FLOW, env, record_property, timeout=60)
    assert result["error"] == "LoginError", result
    assert "401" in result["msg"]
    assert elapsed < 60
    assert not api.store.tasks and not api.store.projects


@pytest.mark.parametrize("auth", [
    None,
    _basic(secret="wrong"),
    _basic("unknown-key", SECRET),
    # The SDK's documented default key pair (session.py): a stock default, never built in here.
    _basic("EGRTCO8JMSIGI6S39GTP43NFWXDQOW", "x!XTov_G-#vspE*Y(h$Anm&DIc5Ou-F)jsl$PdOyj5wG1&E!Z8"),
    "Bearer not.a.token",
], ids=["no-auth", "wrong-secret", "unknown-key", "sdk-default-key", "forged-token"])
def test_bad_credentials_get_a_clearml_style_401(api, auth):
    code, body = _call(api.url, "v2.23/auth.login", auth=auth)
    assert code == 401
    assert body["meta"]["result_code"] == 401 and body["meta"]["result_msg"].startswith(("Unauthorized", "Invalid"))
    code, body = _call(api.url, "v2.23/projects.get_all", auth=auth)
    assert code == 401


def test_credentials_from_env_with_hocon_quotes(tmp_path):
    environ = {"CLEARML__secure__credentials__ingest__user_key": '"QKEY"',
               "CLEARML__secure__credentials__ingest__user_secret": '"q$ecret"',
               "CLEARML__secure__credentials__ingest__role": '"user"',
               "CLEARML__secure__credentials__half__user_key": "ONLYKEY"}  # no secret: ignored
    running, url = start(port=0, environ=environ)
    try:
        code, body = _call(url, "auth.login", auth=_basic("QKEY", "q$ecret"))
        assert code == 200 and body["data"]["token"].count(".") == 2
        assert _call(url, "auth.login", auth=_basic("ONLYKEY", ""))[0] == 401
    finally:
        running.stop()
    with pytest.raises(ValueError, match="no credentials"):
        start(port=0, environ={})


def test_credentials_and_web_users_from_config_files_with_the_environment_on_top(tmp_path):
    """As clearml-server reads /opt/clearml/config: secure.conf gives `secure`, apiserver.conf `apiserver`;
    a CLEARML__ variable overrides the file's value."""
    (tmp_path / "secure.conf").write_text(json.dumps({"credentials": {
        "ingest": {"role": "user", "user_key": "FILEKEY", "user_secret": "file-secret"},
        "other": {"user_key": "OTHERKEY", "user_secret": "from-file"}}}))
    (tmp_path / "apiserver.conf").write_text(json.dumps({"auth": {"fixed_users": {
        "enabled": True, "pass_hashed": False, "users": [{"username": "admin", "password": "w3b-pass"}]}}}))
    environ = {"CLEARML_CONFIG_DIR": str(tmp_path),
               "CLEARML__secure__credentials__other__user_secret": '"from-env"'}
    running, url = start(port=0, environ=environ)
    try:
        assert _call(url, "auth.login", auth=_basic("FILEKEY", "file-secret"))[0] == 200
        assert _call(url, "auth.login", auth=_basic("admin", "w3b-pass"))[0] == 200
        assert _call(url, "auth.login", auth=_basic("OTHERKEY", "from-env"))[0] == 200
        assert _call(url, "auth.login", auth=_basic("OTHERKEY", "from-file"))[0] == 401
    finally:
        running.stop()
    # Without CLEARML_CONFIG_DIR an explicit environ reads no directory (not the machine's /opt/clearml/config).
    with pytest.raises(ValueError, match="no credentials"):
        start(port=0, environ={})
    (tmp_path / "services.conf").write_text("auth { x: 1 }")  # HOCON the stand-in does not parse
    with pytest.raises(ValueError, match="services.conf.*JSON"):
        start(port=0, environ=environ)


FIXED_USERS = json.dumps([{"username": "admin", "password": "p@ss:word", "name": "Admin"},
                          {"username": "viewer", "password": "v1ewer"}])
FIXED_ENV = {"CLEARML__apiserver__auth__fixed_users__enabled": "true",
             "CLEARML__apiserver__auth__fixed_users__users": FIXED_USERS}


@pytest.fixture
def fixed_api():
    environ = {**FIXED_ENV, "CLEARML__secure__credentials__ingest__user_key": '"QKEY"',
               "CLEARML__secure__credentials__ingest__user_secret": '"QSECRET"'}
    running, url = start(port=0, environ=environ)
    yield url
    running.stop()


def test_fixed_users_log_in_with_username_and_password(fixed_api):
    for user, password in (("admin", "p@ss:word"), ("viewer", "v1ewer")):
        code, body = _call(fixed_api, "v2.23/auth.login", auth=_basic(user, password))
        assert code == 200, body
        token = "Bearer " + body["data"]["token"]
        assert _call(fixed_api, "v2.23/projects.get_all", auth=token)[0] == 200
    # The API credentials (HOCON-quoted in the environment) work beside them, unquoted.
    assert _call(fixed_api, "auth.login", auth=_basic("QKEY", "QSECRET"))[0] == 200
    assert _call(fixed_api, "auth.login", auth=_basic('"QKEY"', '"QSECRET"'))[0] == 401


@pytest.mark.parametrize("auth", [None, _basic("admin", "wrong"), _basic("admin", ""), _basic("nobody", "p@ss:word"),
                                  _basic("viewer", "p@ss:word")],
                         ids=["anonymous", "wrong-password", "empty-password", "unknown-user", "other-users-password"])
def test_fixed_users_refuse_anything_else(fixed_api, auth):
    code, body = _call(fixed_api, "v2.23/auth.login", auth=auth)
    assert code == 401 and body["meta"]["result_code"] == 401


@pytest.mark.parametrize("enabled", ["false", '"false"', ""])
def test_fixed_users_are_ignored_unless_enabled(enabled):
    environ = {**FIXED_ENV, "CLEARML__apiserver__auth__fixed_users__enabled": enabled,
               "CLEARML__secure__credentials__ingest__user_key": "QKEY",
               "CLEARML__secure__credentials__ingest__user_secret": "QSECRET"}
    running, url = start(port=0, environ=environ)
    try:
        assert _call(url, "auth.login", auth=_basic("admin", "p@ss:word"))[0] == 401
        assert _call(url, "auth.login", auth=_basic("QKEY", "QSECRET"))[0] == 200
    finally:
        running.stop()


def test_fixed_users_alone_are_enough_to_start_and_are_validated():
    environ = {**FIXED_ENV, "CLEARML__apiserver__auth__fixed_users__enabled": '"true"'}  # HOCON-quoted
    running, url = start(port=0, environ=environ)
    try:
        assert _call(url, "auth.login", auth=_basic("admin", "p@ss:word"))[0] == 200
    finally:
        running.stop()
    for bad in ("not json", '{"username": "admin"}', '[{"username": "admin"}]'):
        with pytest.raises(ValueError, match=r"fixed_users\.users"):
            start(port=0, environ={**FIXED_ENV, "CLEARML__apiserver__auth__fixed_users__users": bad})
    # As the role's env file writes it: pass_hashed 'false' is fine, true is refused (no bcrypt in the stdlib).
    running, url = start(port=0, environ={**FIXED_ENV, "CLEARML__apiserver__auth__fixed_users__pass_hashed": "false"})
    running.stop()
    with pytest.raises(ValueError, match="pass_hashed"):
        start(port=0, environ={**FIXED_ENV, "CLEARML__apiserver__auth__fixed_users__pass_hashed": "true"})


# ---------------------------------------------------------------------------------------------
# 4. Liveness probe, and the command line
# ---------------------------------------------------------------------------------------------

def test_debug_ping_needs_no_auth(api):
    with urllib.request.urlopen(f"{api.url}/debug.ping", timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["meta"]["result_code"] == 200


def test_command_line_port_zero_and_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARML")}
    cmd = [sys.executable, "-m", "tests.standins.clearml_api", "--host", "127.0.0.1", "--port", "0",
           "--state-file", str(tmp_path / "state.json")]
    refused = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "no credentials" in refused.stderr

    env.update({"CLEARML__secure__credentials__cli__user_key": f'"{KEY}"',
                "CLEARML__secure__credentials__cli__user_secret": f'"{SECRET}"'})
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = _readline_within(proc, 30)
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        with urllib.request.urlopen(f"{url}/debug.ping", timeout=10) as resp:
            assert resp.status == 200
        assert _call(url, "v2.23/projects.create", {"name": "cli"}, auth=_basic())[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "cli" in (tmp_path / "state.json").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _readline_within(proc: subprocess.Popen, seconds: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert box, f"no output within {seconds} s"
    return box[0].strip()


# ---------------------------------------------------------------------------------------------
# 5. State file: a restart keeps projects and tasks
# ---------------------------------------------------------------------------------------------

def test_restart_on_state_file_keeps_datasets(moto, objects, tmp_path, record_property):
    port, _ = moto
    prefix, content = objects
    state = tmp_path / "api-state.json"
    first, url = start(port=0, credentials=CREDENTIALS, state_file=str(state))
    api_port = first.server.server_address[1]
    try:
        env = _sdk_env(tmp_path, url, port)
        env.update(PREFIX=prefix, PROJECT="standin/flow5")
        created, _ = _run_flow("flow5_create_before_restart", CREATE_FLOW, env, record_property)
        token = _token(url)
    finally:
        first.stop()

    started = time.monotonic()
    second, url2 = start(port=api_port, credentials=CREDENTIALS, state_file=str(state))
    print(f"[timing] flow5_restart: {time.monotonic() - started:.3f} s")
    try:
        assert url2 == url
        # A token from before the restart stays valid (the real server's token secret is fixed too).
        assert _call(url, "v2.23/tasks.get_by_id", {"task": created["parent"]}, auth=token)[0] == 200
        env.update(NAME="raw", HOME=str(tmp_path / "home-after"))
        Path(env["HOME"]).mkdir()
        got, _ = _run_flow("flow5_get_after_restart", GET_FLOW, env, record_property)
        assert got["id"] == created["parent"]
        assert len(got["files"]) == len(content) == 10
        _no_unknown_endpoints(second)
    finally:
        second.stop()


# ---------------------------------------------------------------------------------------------
# Query semantics the SDK relies on: paging, ordering, filters
# ---------------------------------------------------------------------------------------------

PAGING_FLOW = """
    import json
    from clearml import Task
    # query_tasks pages (Task.get_tasks stops after the first page by design).
    ids = Task.query_tasks(project_name="standin/paging")
    print("RESULT " + json.dumps({"count": len(ids), "unique": len(set(ids))}))
"""


def test_sdk_pages_through_more_than_one_page(api, moto, tmp_path, record_property):
    auth = _basic()
    _, body = _call(api.url, "v2.23/projects.create", {"name": "standin/paging"}, auth=auth)
    project = body["data"]["id"]
    for i in range(501):  # the SDK asks for pages of 500 and goes on while a page is full
        assert _call(api.url, "v2.23/tasks.create", {"name": f"t{i}", "type": "training", "project": project},
                     auth=auth)[0] == 200
    result, _ = _run_flow("paging_501_tasks", PAGING_FLOW, _sdk_env(tmp_path, api.url, moto[0]), record_property)
    assert result == {"count": 501, "unique": 501}
    _no_unknown_endpoints(api)


def test_get_all_filters_order_and_pages(api):
    auth = _token(api.url)
    _, body = _call(api.url, "v2.23/projects.create", {"name": "q/.datasets/x", "system_tags": ["hidden"]}, auth=auth)
    project = body["data"]["id"]
    ids = []
    for name, tags in [("ds", ["dataset"]), ("ds", ["dataset", "archived"]), ("other", []), ("DS", ["dataset"])]:
        _, body = _call(api.url, "v2.23/tasks.create",
                        {"name": name, "type": "data_processing", "project": project, "system_tags": tags}, auth=auth)
        ids.append(body["data"]["id"])
    # Touch the first task last: it becomes the most recently updated.
    _call(api.url, "v2.23/tasks.edit", {"task": ids[0], "comment": "newest"}, auth=auth)

    def get_all(**query):
        code, body = _call(api.url, "v2.23/tasks.get_all", query, auth=auth)
        assert code == 200, body
        return [t["id"] for t in body["data"]["tasks"]]

    # Name is a case-insensitive regex; "^ds$" matches "ds" and "DS", not "other".
    assert get_all(name="^ds$", project=[project]) == [ids[0], ids[1], ids[3]]
    # Dataset.get's tag filter: all of "dataset", none of "archived".
    assert get_all(system_tags=["__$all", "dataset", "__$not", "archived"]) == [ids[0], ids[3]]
    assert get_all(system_tags=["-dataset"]) == [ids[2]]
    assert get_all(order_by=["-last_update"], system_tags=["dataset"])[0] == ids[0]
    assert get_all(page=0, page_size=3) + get_all(page=1, page_size=3) == ids
    assert get_all(page=2, page_size=3) == []
    # only_fields with a dotted path, as Dataset.get asks for ["id", "runtime.version"].
    _call(api.url, "v2.23/tasks.edit", {"task": ids[3], "runtime": {"version": "1.0.1", "x": 1}}, auth=auth)
    _, body = _call(api.url, "v2.23/tasks.get_all", {"id": [ids[3]], "only_fields": ["runtime.version"]}, auth=auth)
    assert body["data"]["tasks"] == [{"id": ids[3], "runtime": {"version": "1.0.1"}}]
    # Hidden projects only show up with search_hidden, as in the real server.
    _, body = _call(api.url, "v2.23/projects.get_all", {"name": r"^q/\.datasets/x$"}, auth=auth)
    assert body["data"]["projects"] == []
    _, body = _call(api.url, "v2.23/projects.get_all", {"name": r"^q/\.datasets/x$", "search_hidden": True}, auth=auth)
    assert [p["id"] for p in body["data"]["projects"]] == [project]
    # Unknown endpoints answer 400 (never a code the SDK retries) and are recorded.
    code, body = _call(api.url, "v2.23/queues.get_all", {}, auth=auth)
    assert code == 400 and api.store.unknown_calls == ["queues.get_all"]


# ---------------------------------------------------------------------------------------------
# Beyond the basic flows: a restart in the middle of a flow; versions, publish, delete
# ---------------------------------------------------------------------------------------------

INGEST_IN_BATCHES_FLOW = """
    import json, os
    from clearml import Dataset
    port, prefix = os.environ["MOTO_PORT"], os.environ["PREFIX"]
    ds = Dataset.create(dataset_project="standin/restart", dataset_name="raw")
    for folder in ("cam0", "cam1"):
        for i in range(10):  # one add per file on purpose: many calls, so the restart lands mid-flow
            ds.add_external_files(source_url=f"s3://127.0.0.1:{port}/source/{prefix}/{folder}/img{i:02d}.png")
    ds.upload()
    ds.finalize()
    got = Dataset.get(dataset_project="standin/restart", dataset_name="raw")
    print("RESULT " + json.dumps({"id": ds.id, "got": got.id, "files": len(got.list_files())}))
"""


def test_flow_survives_a_restart_midway(moto, objects, tmp_path, record_property):
    port, _ = moto
    prefix, _ = objects
    state = tmp_path / "api-state.json"
    first, url = start(port=0, credentials=CREDENTIALS, state_file=str(state))
    api_port = first.server.server_address[1]
    env = _sdk_env(tmp_path, url, port)
    env["PREFIX"] = prefix
    started = time.monotonic()
    proc = second = None
    try:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INGEST_IN_BATCHES_FLOW)], env=env,
                                cwd=env["HOME"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Stop once the flow is well into its adds (bounded wait), stay down 2 s, come back.
        deadline = time.monotonic() + 60
        while first.store.calls["tasks.add_or_update_artifacts"] < 5:
            assert proc.poll() is None, proc.communicate(timeout=10)
            assert time.monotonic() < deadline, "the flow did not get going within 60 s"
            time.sleep(0.05)
        first.stop()
        time.sleep(2)
        second, _ = start(port=api_port, credentials=CREDENTIALS, state_file=str(state))
        out, err = proc.communicate(timeout=FLOW_TIMEOUT)
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        first.stop()  # idempotent
        if second:
            second.stop()
    elapsed = time.monotonic() - started
    print(f"[timing] restart_midway_flow (incl. 2 s down): {elapsed:.2f} s")
    record_property("restart_midway_flow_seconds", round(elapsed, 2))
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\n{out}\n{err}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["got"] == result["id"] and result["files"] == 10  # *.png under cam0/ and cam1/ only
    assert second.store.calls["tasks.completed"] == 1  # finalize happened after the restart


VERSIONS_FLOW = """
    import json, os
    from clearml import Dataset
    port, prefix = os.environ["MOTO_PORT"], os.environ["PREFIX"]
    v1 = Dataset.create(dataset_project="standin/versions", dataset_name="raw", dataset_tags=["first"])
    v1.add_external_files(source_url=f"s3://127.0.0.1:{port}/source/{prefix}/", wildcard="*.png", recursive=True)
    v1.finalize(auto_upload=True)
    v1.publish()
    v2 = Dataset.create(dataset_project="standin/versions", dataset_name="raw", parent_datasets=[v1.id])
    v2.remove_files("cam1/*", recursive=False)
    v2.finalize(auto_upload=True)
    latest = Dataset.get(dataset_project="standin/versions", dataset_name="raw")
    result = {
        "v1": v1.id, "v2": v2.id, "latest": latest.id, "latest_version": latest.version,
        "latest_files": len(latest.list_files()),
        "published": Dataset.get(dataset_project="standin/versions", dataset_name="raw", only_published=True).id,
        "by_version": Dataset.get(dataset_project="standin/versions", dataset_name="raw", dataset_version="1.0.0").id,
        "by_tag": Dataset.get(dataset_project="standin/versions", dataset_name="raw", dataset_tags=["first"]).id,
    }
    Dataset.delete(dataset_id=v2.id, force=True)
    result["after_delete"] = [d["id"] for d in Dataset.list_datasets(dataset_project="standin/versions")]
    print("RESULT " + json.dumps(result))
"""


def test_versions_publish_and_delete(api, moto, objects, tmp_path, record_property):
    env = _sdk_env(tmp_path, api.url, moto[0])
    env["PREFIX"] = objects[0]
    r, _ = _run_flow("versions_publish_delete", VERSIONS_FLOW, env, record_property)
    assert r["latest"] == r["v2"] and r["latest_version"] == "1.0.1" and r["latest_files"] == 5
    assert r["published"] == r["by_version"] == r["by_tag"] == r["v1"]
    assert r["after_delete"] == [r["v1"]]
    _no_unknown_endpoints(api)


# Every endpoint with a request that exercises it; the answer must parse with the SDK's own
# response model for the API version the SDK picks (v2_23 for clearml 2.1), as CallResult does.
def test_every_endpoint_answer_parses_with_the_sdk_models(api):
    import importlib

    auth = _token(api.url)
    _, body = _call(api.url, "v2.23/projects.create", {"name": "shapes/p"}, auth=auth)
    pid = body["data"]["id"]
    _, body = _call(api.url, "v2.23/tasks.create", {"name": "t", "type": "data_processing", "project": pid}, auth=auth)
    tid = body["data"]["id"]
    calls = [
        ("projects.get_all", {"name": "shapes"}), ("projects.get_by_id", {"project": pid}),
        ("projects.update", {"project": pid, "system_tags": ["dataset"]}),
        ("tasks.get_by_id", {"task": tid}), ("tasks.get_all", {"id": [tid]}),
        ("tasks.edit", {"task": tid, "comment": "c"}), ("tasks.update", {"task": tid, "tags": ["x"]}),
        ("tasks.edit_hyper_params", {"task": tid, "hyperparams": [{"section": "s", "name": "n", "value": "1"}]}),
        ("tasks.get_hyper_params", {"tasks": [tid]}),
        ("tasks.delete_hyper_params", {"task": tid, "hyperparams": [{"section": "s", "name": "n"}]}),
        ("tasks.edit_configuration", {"task": tid, "configuration": [{"name": "c", "value": "v"}]}),
        ("tasks.get_configurations", {"tasks": [tid]}),
        ("tasks.set_requirements", {"task": tid, "requirements": {"pip": "clearml"}}),
        ("tasks.add_or_update_model", {"task": tid, "name": "m", "model": "mid", "type": "output"}),
        ("tasks.add_or_update_artifacts", {"task": tid, "artifacts": [{"key": "a", "type": "t", "uri": "s3://x/y"}]}),
        ("tasks.delete_artifacts", {"task": tid, "artifacts": [{"key": "a"}]}),
        ("tasks.started", {"task": tid}), ("tasks.ping", {"task": tid}), ("tasks.stopped", {"task": tid}),
        ("tasks.failed", {"task": tid}), ("tasks.close", {"task": tid}), ("tasks.completed", {"task": tid}),
        ("tasks.publish", {"task": tid}),
        ("models.get_all", {"task": [tid]}), ("events.add", {"task": tid, "type": "log"}),
        ("events.get_task_events", {"task": tid}),
        ("tasks.delete", {"task": tid, "force": True, "return_file_urls": True}),
        ("projects.create", {"name": "shapes/q"}),
    ]
    for endpoint, request in calls:
        code, body = _call(api.url, f"v2.23/{endpoint}", request, auth=auth)
        assert code == 200, (endpoint, body)
        service, action = endpoint.split(".")
        module = importlib.import_module(f"clearml.backend_api.services.v2_23.{service}")
        response_cls = getattr(module, "".join(w.capitalize() for w in action.split("_")) + "Response")
        response_cls(**body["data"])  # raises on a wrong type, like "deleted" as int instead of bool
    assert set(api.store._endpoints) - {e for e, _ in calls} == {"events.add_batch", "tasks.create"}
    assert api.store.unknown_calls == []
