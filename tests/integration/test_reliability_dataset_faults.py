"""Faults in the middle of dataset work, with the real `clearstack` CLI against the real MinIO server and
the ClearML API stand-in (loopback processes, tests/integration/dataset_servers.py): the driver killed mid-ingest,
the API server restarted mid-ingest, and a subset's new version deleted on the server before the subset
finalized it. Each time a re-run must converge on exactly one finalized version holding every file.

The API stand-in here keeps its state in a file (--state-file, rewritten after every change), as the
real server keeps it in MongoDB and Elasticsearch, so a restart loses nothing the SDK saw succeed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dataset_servers import (BUCKET, CLEARSTACK, FINALIZED, VERSION_CREATED, api_call, api_tasks, error_gist, frozen,
                             reaped, start_api_standin, stop)

RELIABILITY_AREA = "Faults during dataset work (real MinIO, ClearML API stand-in)"
pytestmark = [pytest.mark.reliability]

# Enough objects that the window between creating the version and finalizing it is wide enough to
# hit by polling (the state the SDK writes grows with them).
OBJECTS = 400
EVIDENCE_TIMEOUT_S = 120
POLL_S = 0.05
RUN_TIMEOUT_S = 300


class RestartableApi:
    """The ClearML API stand-in, restartable on the same port with the same state file."""

    def __init__(self, state_file: Path):
        self.state_file = state_file
        self.process, self.url = start_api_standin(state_file=state_file)
        self.port = int(self.url.rsplit(":", 1)[1])

    def restart(self) -> None:
        stop(self.process)
        self.process, url = start_api_standin(port=self.port, state_file=self.state_file)
        assert url == self.url, (url, self.url)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture(scope="module")
def api_standin(tmp_path_factory):
    api = RestartableApi(tmp_path_factory.mktemp("api") / "state.json")
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def api_server(api_standin):
    """Overrides the in-memory API of dataset_servers.py: clearml.conf then points at this one."""
    return api_standin.url


@pytest.fixture(scope="module")
def big_source(s3_server):
    """OBJECTS small PNGs under one prefix; returns the source URL."""
    port, client = s3_server
    prefix = f"big-{uuid.uuid4().hex[:8]}/"

    def put(i: int) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}cam{i % 4}/img{i:04d}.png", Body=f"PNG {i}".encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(OBJECTS)))
    return f"s3://127.0.0.1:{port}/{BUCKET}/{prefix}"


def _ingest_args(source: str, project: str) -> list[str]:
    return ["ingest", source, "--project", project, "--name", "ds", "--wildcard", "*.png", "--dataset-path", "/imagens"]


def _start_ingest(cli_env: dict, source: str, project: str, logs: Path) -> subprocess.Popen:
    """The ingest in its own process group (so a kill reaches anything it started), output to files."""
    return subprocess.Popen([CLEARSTACK, *_ingest_args(source, project), "--json"], env=cli_env,
                            stdout=(logs / "out.json").open("w"), stderr=(logs / "err.txt").open("w"),
                            start_new_session=True)


def _versions(api_url: str, before: dict) -> dict[str, str]:
    """Dataset tasks created since `before`: id -> status."""
    return {tid: task["status"] for tid, task in api_tasks(api_url).items() if tid not in before}


def _wait_for_a_draft(ingest: subprocess.Popen, api_url: str, before: dict) -> str:
    """Poll (bounded) until the ingest has created its version and not yet finalized it; returns its id."""
    deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
    while time.monotonic() < deadline:
        drafts = [tid for tid, status in _versions(api_url, before).items() if status not in FINALIZED]
        if drafts:
            return drafts[0]
        assert ingest.poll() is None, "the ingest ended before a draft version was seen: use more OBJECTS"
        time.sleep(POLL_S)
    raise AssertionError(f"no draft version within {EVIDENCE_TIMEOUT_S} s")


def _finalized(run, project: str) -> list[dict]:
    rc, listed, err = run("datasets", "list", "--project", project)
    assert rc == 0, err
    return listed["datasets"]


def test_standin_driver_killed_mid_ingest_then_rerun_makes_one_version(run, cli_env, api_server, big_source,
                                                                     reliability, tmp_path):
    row = reliability(f"driver SIGKILLed mid-ingest ({OBJECTS} objects), then the same ingest again",
                      "re-run succeeds; exactly one finalized version with every file")
    project = f"kill-{uuid.uuid4().hex[:6]}"
    before = api_tasks(api_server)
    ingest = _start_ingest(cli_env, big_source, project, tmp_path)
    try:
        draft = _wait_for_a_draft(ingest, api_server, before)
    finally:
        if ingest.poll() is None:
            os.killpg(ingest.pid, signal.SIGKILL)  # the group of the process this test started
        ingest.wait(timeout=30)
    assert ingest.returncode == -signal.SIGKILL, f"the ingest was not killed mid-way: rc {ingest.returncode}"
    assert _finalized(run, project) == [], "the killed run finalized a version"

    rc, out, err = run(*_ingest_args(big_source, project), timeout=RUN_TIMEOUT_S)
    assert rc == 0, err
    assert out["created"] and out["files"] == OBJECTS, out
    finalized = _finalized(run, project)
    assert [d["id"] for d in finalized] == [out["dataset_id"]], finalized
    left = _versions(api_server, before)
    abandoned = sorted(tid for tid, status in left.items() if status not in FINALIZED)
    # Only the killed run's own draft may remain (unlisted, never a parent); the re-run adds none.
    assert abandoned in ([], [draft]), left
    row["observed"] = (f"killed with draft {draft[:8]} open; re-run made 1 finalized version of {out['files']} files; "
                       f"{len(abandoned)} abandoned draft left, not listed")

    rc, again, err = run(*_ingest_args(big_source, project), timeout=RUN_TIMEOUT_S)
    assert rc == 0 and not again["created"] and again["dataset_id"] == out["dataset_id"], err or again
    assert len(_finalized(run, project)) == 1
    row["data intact"] = True


def test_standin_api_restarted_mid_ingest_then_rerun_converges(run, cli_env, api_standin, big_source, reliability,
                                                              tmp_path):
    row = reliability("ClearML API stand-in restarted (state kept, as by MongoDB) mid-ingest, then the ingest again",
                      "the ingest succeeds or fails with a clear error; re-run converges on one finalized version")
    api = api_standin.url
    project = f"restart-{uuid.uuid4().hex[:6]}"
    before = api_tasks(api)
    ingest = _start_ingest(cli_env, big_source, project, tmp_path)
    try:
        draft = _wait_for_a_draft(ingest, api, before)
        api_standin.restart()
        # Alive after the restart and not finalized before it: the ingest did live through it.
        assert ingest.poll() is None, "the ingest ended while the API was down or before: use more OBJECTS"
        rc = ingest.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if ingest.poll() is None:
            os.killpg(ingest.pid, signal.SIGKILL)
            ingest.wait(timeout=30)
    err = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in err, err
    first = "succeeded" if rc == 0 else f"failed: {error_gist(err)}"
    if rc != 0:
        assert rc == 1 and err.strip(), err  # a clear one-line error, not a crash

    rc, out, err = run(*_ingest_args(big_source, project), timeout=RUN_TIMEOUT_S)
    assert rc == 0, err
    assert out["files"] == OBJECTS, out
    finalized = _finalized(run, project)
    assert [d["id"] for d in finalized] == [out["dataset_id"]], finalized
    left = _versions(api, before)
    abandoned = sorted(tid for tid, status in left.items() if status not in FINALIZED)
    assert abandoned in ([], [draft]), left
    # The draft seen before the restart, finalized now, means the ingest went on against the restarted API.
    how = "finalized by the restarted API" if out["dataset_id"] == draft else "abandoned"
    row["observed"] = (f"ingest across the restart {first} (its draft {how}); re-run "
                       f"{'made' if out['created'] else 'kept'} 1 finalized version of {out['files']} files; "
                       f"{len(abandoned)} abandoned draft left")
    row["data intact"] = True



def _wait_until_created(proc: subprocess.Popen, stderr_file: Path) -> None:
    """Poll (bounded, every 10 ms) the run's stderr until its version exists: finishing a subset is too
    quick to catch by polling the API."""
    deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
    while VERSION_CREATED not in stderr_file.read_text():
        assert proc.poll() is None, f"the run ended before it made its version:\n{stderr_file.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {VERSION_CREATED!r} within {EVIDENCE_TIMEOUT_S} s"
        time.sleep(0.01)


def test_standin_subset_version_lost_mid_subset_fails_clearly_then_rerun_makes_one(run, cli_env, api_server,
                                                                                   big_source, reliability, tmp_path):
    row = reliability("A subset's new version deleted on the server (as by another client) before it was finalized",
                      "the subset fails in one clear line and leaves no version; the same subset again makes one")
    project = f"lost-{uuid.uuid4().hex[:6]}"
    rc, parent, err = run(*_ingest_args(big_source, project), timeout=RUN_TIMEOUT_S)
    assert rc == 0, err
    args = ["subset", "--parent-project", project, "--parent-name", "ds", "--name", "sub", "--max-count", "10"]
    before = api_tasks(api_server)
    proc = subprocess.Popen([CLEARSTACK, *args, "--json"], env=cli_env, stdout=(tmp_path / "out.json").open("w"),
                            stderr=(tmp_path / "err.txt").open("w"), start_new_session=True)
    with reaped(proc):
        _wait_until_created(proc, tmp_path / "err.txt")
        with frozen(proc):
            drafts = [tid for tid, status in _versions(api_server, before).items() if status not in FINALIZED]
            assert len(drafts) == 1, f"expected the subset's one unfinalized version, found {drafts}"
            api_call(api_server, "tasks.delete", {"task": drafts[0], "force": True})
        rc = proc.wait(timeout=RUN_TIMEOUT_S)
    err = (tmp_path / "err.txt").read_text()
    assert rc == 1, f"rc {rc}: {err[-3000:]}"
    assert "Traceback" not in err, err
    message = [line for line in err.splitlines() if line.startswith("clearstack subset: ")]
    assert message and drafts[0] in message[-1] and "run the same subset again" in message[-1], err[-3000:]
    assert [d["name"] for d in _finalized(run, project)] == ["ds"]  # nothing half-made is listed
    assert not [tid for tid, status in _versions(api_server, before).items() if status not in FINALIZED]

    rc, out, err = run(*args, timeout=RUN_TIMEOUT_S)
    assert rc == 0 and out["created"] and out["files"] == 10, err or out
    rc, again, err = run(*args, timeout=RUN_TIMEOUT_S)
    assert rc == 0 and not again["created"] and again["dataset_id"] == out["dataset_id"], err or again
    assert sorted(d["name"] for d in _finalized(run, project)) == ["ds", "sub"]
    row["observed"] = (f"subset exit 1: {error_gist(message[-1], 220)}; no version left; the same subset "
                       f"again made 1 version of {out['files']} of {parent['files']} files, and a third run kept it")
    row["data intact"] = True
