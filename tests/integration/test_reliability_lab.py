"""Reliability: faults and secrets on a one-host lab (all-in-one: the ClearML host runs the four
MinIO nodes and their load balancer too), deployed by `clearstack up` over SSH with the stand-in
images. One lab for the module, removed at the end.

Cases, each a row of the reliability table: a MinIO node stopped during an ingest, the ClearML API
restarted during an ingest, the driver killed (SIGKILL) during `up`, a data directory on a read-only
disk, no generated secret outside its stores after the whole flow, the stock public keys and an
anonymous login refused by the API, and docs/datasets.md's dataset commands run as written. The two
ingest faults land while the version exists and is not yet finalized, checked through the API (see
ingest_with_fault).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shlex
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from clearstack import secrets as secret_store
from dataset_servers import FINALIZED, VERSION_CREATED, api_tasks, frozen, reaped
from testhosts import (CLI, changed, clearstack, failures, host_exec, secrets_in_controller_files,
                       secrets_in_environments, secrets_in_host_files, standin_bundle, standin_lab)

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

RELIABILITY_AREA = "Faults and secrets on a one-host lab"
ROOT = Path(__file__).resolve().parents[2]

FILES = 30  # demo PNGs in the source prefix
SOURCE = "reliability/raw/"  # in bucket clearml, which the minio role makes
OUTPUTS = "reliability/outputs/"  # dataset state through the load balancer too, so a fault there is felt
PROJECT = "reliability"
EVIDENCE_TIMEOUT_S = 180
API_PORT = 8008

# The public keys of upstream clearml-server's stock config (apiserver/config/default/secure.conf,
# the same in every installation that does not override them): (access key, secret).
STOCK_KEYS = {
    "apiserver": ("62T8CP7HGBC6647XF9314C2VY67RJO", "FhS8VZv_I4%6Mo$8S1BWc$n$=o1dMYSivuiWU-Vguq7qGOKskG-d+b@tn_Iq"),
    "webserver": ("EYVQ385RW7Y2QQUH88CZ7DWIQ1WUHP", "yfc8KQo*GMXb*9p((qcYC7ByFIpF7I&4VH3BfUYXH%o9vX1ZUZQEEw1Inc)S"),
    "services_agent": ("P4BMJA7RK3TKBXGSY8OAA1FA8TOD11",
                       "9LsgSfa0SYz0zli1_c500ZcLqanre2xkWOpepyt1w-BKK3_DKPHrtoj3JSHvyy8bIi0"),
    "tests": ("EGRTCO8JMSIGI6S39GTP43NFWXDQOW", "x!XTov_G-#vspE*Y(h$Anm&DIc5Ou-F)jsl$PdOyj5wG1&E!Z8"),
}


@dataclass
class Lab:
    name: str
    inventory: Path  # the lab's directory: hosts.yml, group_vars, and what `up` writes
    address: str

    @property
    def host(self) -> str:
        return f"{self.name}-clearml"

    def s3(self, prefix: str) -> str:
        return f"s3://{self.address}:9000/clearml/{prefix}"

    @property
    def secrets(self) -> dict[str, str]:
        return secret_store.load(secret_store.store_path(self.inventory))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = f"pytest-rel-{uuid.uuid4().hex[:6]}"
    directory = tmp_path_factory.mktemp("reliability-lab")
    with standin_lab(name, 1, directory, standin_bundle()) as hosts:
        the_lab = Lab(name, directory, hosts[f"{name}-clearml"]["ansible_host"])
        rc, report = clearstack("up", lab=the_lab)
        assert rc == 0, failures(report)
        demo = dataset_verb(the_lab, "demo-data", the_lab.s3(SOURCE), "--count", str(FILES), "--json")
        assert demo.returncode == 0, demo.stderr[-2000:]
        yield the_lab


# ---- the dataset verbs on the lab, as the operator runs them with the clearml.conf `up` wrote -------

def _dataset_env(lab: Lab) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARML_")}
    return {**env, "CLEARML_CONFIG_FILE": str(lab.inventory / "clearml.conf")}


def dataset_verb(lab: Lab, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=_dataset_env(lab), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def ingest_args(lab: Lab, name: str) -> list[str]:
    return ["ingest", lab.s3(SOURCE), "--project", PROJECT, "--name", name, "--wildcard", "*.png",
            "--output-uri", lab.s3(OUTPUTS), "--json"]


def ingest(lab: Lab, name: str) -> dict:
    proc = dataset_verb(lab, *ingest_args(lab, name))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def versions(lab: Lab, name: str) -> list[str]:
    """Ids of the finalized versions of PROJECT/name."""
    proc = dataset_verb(lab, "datasets", "list", "--project", PROJECT, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [row["id"] for row in json.loads(proc.stdout)["datasets"] if row["name"] == name]


def file_count(lab: Lab, name: str) -> int:
    proc = dataset_verb(lab, "datasets", "show", "--project", PROJECT, "--name", name, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["files"]


def clear_error(stderr: str, verb: str) -> str | None:
    """The one-line `clearstack VERB: ...` message of a failed run, or None (a traceback, or nothing)."""
    lines = [line for line in stderr.splitlines() if line.startswith(f"clearstack {verb}: ")]
    return lines[-1] if lines and "Traceback (most recent call last)" not in stderr else None


@dataclass
class FaultedRun:
    rc: int
    stdout: str
    stderr: str
    draft: dict  # the API's task of the version, as it was when the fault was put in place


def ingest_with_fault(lab: Lab, name: str, fault: str, timeout: float = 300) -> FaultedRun:
    """Ingest PROJECT/name and put `fault` in place (a shell line on the lab host) while the version exists but
    is not finalized yet.

    In earlier runs, what is left of an ingest once its version exists (state upload, finalize, read-back)
    was over before a fault started at that point had landed. So once stderr shows VERSION_CREATED the
    ingest is frozen (SIGSTOP to its process group); the API must show the version unfinalized; the fault
    goes in; the ingest goes on (SIGCONT) into it.
    """
    proc = subprocess.Popen([str(CLI), *ingest_args(lab, name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_dataset_env(lab), stdin=subprocess.DEVNULL, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    err_lines: list[str] = []
    out: list[str] = []

    def pump_stderr():
        for line in proc.stderr:
            err_lines.append(line)
            lines.put(line)
        lines.put(None)

    readers = [threading.Thread(target=pump_stderr, daemon=True),
               threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)]
    for reader in readers:
        reader.start()
    with reaped(proc):
        deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {VERSION_CREATED!r} within {EVIDENCE_TIMEOUT_S}s") from None
            if line is None:
                raise AssertionError(f"the ingest ended without {VERSION_CREATED!r}:\n{''.join(err_lines)[-3000:]}")
            if VERSION_CREATED in line:
                break
        with frozen(proc):
            drafts = [task for task in lab_tasks(lab).values() if task["name"] == name]
            assert len(drafts) == 1 and drafts[0]["status"] not in FINALIZED, \
                f"the fault would not land mid-ingest: the API holds {[(t['id'], t['status']) for t in drafts]}"
            host_exec(lab.host, fault)
        rc = proc.wait(timeout=timeout)
    for reader in readers:
        reader.join(timeout=30)
    return FaultedRun(rc, "".join(out), "".join(err_lines), drafts[0])


def lab_tasks(lab: Lab) -> dict[str, dict]:
    """Every task the lab's API holds, drafts included, asked with the operator's keys."""
    stored = lab.secrets
    return api_tasks(f"http://{lab.address}:{API_PORT}", stored["clearml_server_operator_access_key"],
                     stored["clearml_server_operator_secret_key"])


def api_answers(lab: Lab, timeout_s: float = 90) -> bool:
    """Poll /debug.ping (no auth) until it answers, bounded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{lab.address}:{API_PORT}/debug.ping", timeout=5):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    return False


# ---- 1. a MinIO node stopped mid-ingest ---------------------------------------------------------------

def test_a_minio_node_stopped_during_an_ingest(lab, reliability):
    row = reliability("One MinIO node stopped during an ingest through the load balancer",
                      "the ingest succeeds (the load balancer routes around the node) or fails clearly and a "
                      "re-run succeeds; `up` starts the node again; right file count, one version")
    name, node = "node-stopped", "minio2"
    since = host_exec(lab.host, "date -u +%Y-%m-%dT%H:%M:%SZ").stdout.strip()
    try:
        run = ingest_with_fault(lab, name, f"docker stop -t 10 {node}")
        outcome = "succeeded"
        if run.rc != 0:
            message = clear_error(run.stderr, "ingest")
            assert message, f"the ingest failed without a clear message:\n{run.stderr[-3000:]}"
            outcome = f"failed clearly ({message.split('; ')[0][:220]}), the re-run succeeded"
            ingest(lab, name)
        # What the load balancer saw: requests it sent to the stopped node and then elsewhere.
        rerouted = host_exec(lab.host, f"docker logs --since {since} minio-lb 2>&1 | grep -c upstream || true").stdout
        assert host_exec(lab.host, f"docker inspect -f '{{{{.State.Running}}}}' {node}").stdout.strip() == "false"
    finally:
        rc, report = clearstack("up", lab=lab)  # brings the node back, also when the case failed above
    assert rc == 0, failures(report)
    assert any("MinIO node containers" in task for _, task in changed(report)), sorted(changed(report))
    assert host_exec(lab.host, f"docker inspect -f '{{{{.State.Running}}}}' {node}").stdout.strip() == "true"

    again = ingest(lab, name)  # with every node back: nothing new to register
    assert not again["created"] and again["files"] == FILES, again
    assert file_count(lab, name) == FILES
    found = versions(lab, name)
    assert len(found) == 1, found
    row["observed"] = (f"{node} stopped while version {run.draft['id'][:8]} was {run.draft['status']} (the ingest "
                       f"frozen for it); the ingest {outcome}; the load balancer "
                       f"logged {rerouted.strip()} upstream error line(s); `up` restarted {node}; "
                       f"{FILES} files, 1 version, a re-run added nothing")
    row["data intact"] = True


# ---- 2. the ClearML API restarted mid-ingest -------------------------------------------------------------

def test_the_clearml_api_restarted_during_an_ingest(lab, reliability):
    row = reliability("The ClearML API restarted during an ingest",
                      "the ingest succeeds or fails with a clear message; a re-run converges to one version "
                      "with every file")
    earlier, name = "before-api-restart", "api-restarted"
    ingest(lab, earlier)  # made before the restart: does the API still know it afterwards?

    run = ingest_with_fault(lab, name, "docker restart -t 10 clearml-apiserver")
    assert api_answers(lab), "the API did not answer /debug.ping within 90 s of its restart"
    if run.rc == 0:
        outcome = "succeeded"
    else:
        message = clear_error(run.stderr, "ingest")
        assert message, f"the ingest failed without a clear message:\n{run.stderr[-3000:]}"
        outcome = f"failed clearly ({message.split('; ')[0][:220]})"

    rerun = ingest(lab, name)
    assert rerun["files"] == FILES, rerun
    assert not ingest(lab, name)["created"]  # converged: a third run has nothing to add
    assert file_count(lab, name) == FILES
    found = versions(lab, name)
    assert len(found) == 1, found

    # The stand-in API keeps its projects and tasks in a file on its data mount (tests/images/standins),
    # as the real one keeps them in MongoDB and Elasticsearch: what was made before must still be there.
    kept = versions(lab, earlier)
    assert len(kept) == 1, kept
    row["observed"] = (f"the API restarted while version {run.draft['id'][:8]} was {run.draft['status']} (the "
                       f"ingest frozen for it); the ingest {outcome}; the re-run "
                       f"{'created' if rerun['created'] else 'found'} the version: {FILES} files, 1 version; "
                       "the dataset made before the restart was still there")
    row["data intact"] = True


# ---- 4. a data directory on a read-only disk ----------------------------------------------------------

def test_a_read_only_data_directory(lab, reliability):
    row = reliability("A ClearML data directory's disk read-only while `up` must fix its owner",
                      "`up` fails with a message naming the directory and its read-only file system; writable "
                      "again, `up` converges")
    directory = "/opt/clearml/data/fileserver"
    host_exec(lab.host, f"echo kept > {directory}/reliability-marker")
    # Drift `up` has to repair by writing (an owner), then the directory's disk goes read-only.
    host_exec(lab.host, f"chown 0:0 {directory} && mount --bind {directory} {directory} "
                        f"&& mount -o remount,bind,ro {directory}")
    try:
        assert host_exec(lab.host, f"touch {directory}/probe", check=False).returncode != 0  # read-only indeed
        rc, report = clearstack("up", lab=lab)
        messages = [f"{task}: {msg}" for task, msg in failures(report).get(lab.host, [])]
        assert rc == 1, messages
        explained = [m for m in messages if f"{directory} is on a read-only file system" in m]
        assert explained, messages
    finally:
        host_exec(lab.host, f"umount {directory}", check=False)

    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    assert any("ClearML data tree" in task for _, task in changed(report)), sorted(changed(report))
    assert host_exec(lab.host, f"stat -c %u:%g {directory}").stdout.strip() == "1000:1000"
    assert host_exec(lab.host, f"cat {directory}/reliability-marker").stdout == "kept\n"
    row["observed"] = f"`up` exit 1: {explained[0][:260]}; after the unmount `up` repaired the owner (exit 0)"
    row["data intact"] = True


# ---- 3. the driver killed mid-`up` -----------------------------------------------------------------------

KILLED_RUN_GONE_S = 30  # for every process of the killed run to end (its playbook guard stops them in seconds)


def test_the_driver_killed_during_up(lab, reliability):
    from run_processes import MARKER, kill_left, left_after  # tests/run_processes.py: this run's processes only

    row = reliability("The driver killed (SIGKILL to its process group) during `up`",
                      "a second `up` meanwhile is refused at once, naming the first one's pid; after the kill no "
                      "process of the run is left on the controller; a later `up` converges and the one after "
                      "reports 0 changed; no run directory (with its secrets vars file) is left behind")
    sysctl_file = "/etc/sysctl.d/99-clearml.conf"
    host_exec(lab.host, f"rm {sysctl_file} && docker stop clearml-webserver")  # work for `up`
    marker = f"killed-up-{uuid.uuid4().hex}"
    proc = subprocess.Popen([str(CLI), "up", "-i", str(lab.inventory)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, MARKER: marker})
    try:
        # Evidence it is under way: the kernel layer has put the file back (the ClearML layer comes later).
        deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
        while host_exec(lab.host, f"test -e {sysctl_file}", check=False).returncode != 0:
            assert proc.poll() is None, f"`up` ended (rc {proc.returncode}) before the kernel layer ran"
            assert time.monotonic() < deadline, f"`up` did not write {sysctl_file} within {EVIDENCE_TIMEOUT_S}s"
            time.sleep(0.5)
        started = time.monotonic()
        second = subprocess.run([str(CLI), "up", "-i", str(lab.inventory)], capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)  # one that waited would wait for the first
        refused_in = time.monotonic() - started
        refusal = clear_error(second.stderr, "up")
        assert second.returncode == 1 and refusal, second.stderr[-2000:]
        assert f"clearstack up (pid {proc.pid})" in refusal, refusal
        assert proc.poll() is None, "the first `up` ended before it could be killed mid-run"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        killed = time.monotonic()
        left_running = left_after(marker, KILLED_RUN_GONE_S)
        gone_in = time.monotonic() - killed
        kill_left(marker)  # so that nothing of it runs into the cases after this one, whatever the outcome
    assert not left_running, f"still running {KILLED_RUN_GONE_S}s after the driver was killed: {left_running}"
    webserver = host_exec(lab.host, "docker inspect -f '{{.State.Status}}' clearml-webserver").stdout.strip()
    left = list(Path(tempfile.gettempdir()).glob(f"clearstack-run-{proc.pid}-*"))

    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    repaired = sorted(task for _, task in changed(report))
    assert not any(Path(tempfile.gettempdir()).glob(f"clearstack-run-{proc.pid}-*")), "the killed run's dir is still there"
    assert host_exec(lab.host, "docker inspect -f '{{.State.Status}}' clearml-webserver").stdout.strip() == "running"
    rc, report = clearstack("up", lab=lab)
    assert rc == 0 and changed(report) == set(), sorted(changed(report))
    row["observed"] = (f"a second `up` meanwhile: exit 1 in {refused_in:.1f}s, naming pid {proc.pid}; killed after "
                       f"the kernel layer (webserver {webserver} then); no process of the run left {gone_in:.1f}s "
                       f"after the kill; the killed run left {len(left)} run dir(s), removed by the next `up`, which "
                       f"converged ({len(repaired)} changed task(s)); the one after: 0 changed")
    row["data intact"] = True


# ---- 5. no generated secret outside its stores after the whole flow --------------------------------------

def test_no_secret_outside_its_stores_after_the_whole_flow(lab, reliability, tmp_path):
    row = reliability("Secrets after up, check, verify, ingest and subset (-v where there is one)",
                      "no generated secret in any output, in a controller file but the 0600 store and "
                      "clearml.conf, or in a host file but the allowed holders")
    stored = lab.secrets
    values = sorted(set(stored.values()))
    marker = tmp_path / "before"
    marker.touch()
    time.sleep(1)  # -newer compares modification times
    runs = {}
    for verb in ("up", "check", "verify"):
        proc = subprocess.run([str(CLI), verb, "-v", "-i", str(lab.inventory)], capture_output=True, text=True,
                              timeout=1200, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{verb}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        runs[verb] = proc
    runs["ingest"] = dataset_verb(lab, "ingest", lab.s3(SOURCE), "--project", PROJECT, "--name", "secrets",
                                  "--wildcard", "*.png", "--dataset-path", "/imagens")
    runs["subset"] = dataset_verb(lab, "subset", "--parent-project", PROJECT, "--parent-name", "secrets",
                                  "--name", "secrets-subset", "--max-count", "2")
    for verb in ("ingest", "subset"):
        assert runs[verb].returncode == 0, runs[verb].stderr[-2000:]
    printed = {verb: [n for n, v in stored.items() if v in proc.stdout + proc.stderr] for verb, proc in runs.items()}
    assert not any(printed.values()), f"printed secrets: {printed}"

    # Controller: run directories (ansible-runner artifacts), the lab directory, the SDK's cache.
    allowed = {secret_store.store_path(lab.inventory), lab.inventory / "clearml.conf"}
    roots = [p for p in (Path(tempfile.gettempdir()), lab.inventory, Path.home() / ".clearml") if p.exists()]
    leaks = secrets_in_controller_files(values, marker, roots, allowed)
    assert not leaks, f"a generated secret is in {leaks}"
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in allowed}
    assert set(modes.values()) == {"0o600"}, modes

    found, unexpected = secrets_in_host_files(lab.host, values)
    assert not unexpected, f"generated secrets found on the host in {unexpected}"
    # The scan does see the files that hold them, and they are root's, 0600.
    holders = ["/opt/clearml/config/secure.conf", "/opt/clearml/config/apiserver.conf",
               "/etc/clearstack/minio/root_password"]
    assert set(holders) <= set(found), found
    owners = host_exec(lab.host, "stat -c '%U %a' " + " ".join(holders)).stdout.split("\n")[:-1]
    assert owners == ["root 600"] * len(holders), owners
    exposed = secrets_in_environments(lab.host, stored)
    assert exposed == {}, f"secrets in container configurations or process environments: {exposed}"
    assert file_count(lab, "secrets-subset") == 2
    row["observed"] = (f"{len(values)} secrets: none in the output of {', '.join(runs)}; none in controller files "
                       f"changed meanwhile but the 0600 store and clearml.conf; on the host only in "
                       f"{len(found)} allowed file(s), none in `docker inspect` or a /proc/*/environ")
    row["data intact"] = True


# ---- 6. stock public keys and anonymous logins refused ---------------------------------------------------

def _login(lab: Lab, user: str | None = None, secret: str = "") -> int:
    """HTTP status of auth.login on the lab's API, with Basic user:secret or without credentials."""
    request = urllib.request.Request(f"http://{lab.address}:{API_PORT}/v2.23/auth.login", data=b"{}",
                                     headers={"Content-Type": "application/json"}, method="POST")
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_stock_keys_and_anonymous_logins_are_refused(lab, reliability):
    row = reliability("Stock public ClearML keys, an anonymous login and a web login without its password",
                      "auth.login answers 401 to each; the operator's keys and the web login still get 200")
    stored = lab.secrets
    assert api_answers(lab)
    before = dataset_verb(lab, "datasets", "list", "--json")
    # Controls: the API does let the right credentials in, so the 401s below are refusals.
    operator = stored["clearml_server_operator_access_key"], stored["clearml_server_operator_secret_key"]
    assert _login(lab, *operator) == 200
    assert _login(lab, "admin", stored["clearml_server_web_password"]) == 200

    refused = {f"stock {name}": _login(lab, key, secret) for name, (key, secret) in STOCK_KEYS.items()}
    refused["anonymous"] = _login(lab)
    refused["web user, no password"] = _login(lab, "admin", "")
    assert refused == {case: 401 for case in refused}, refused
    after = dataset_verb(lab, "datasets", "list", "--json")
    assert before.returncode == after.returncode == 0 and json.loads(after.stdout) == json.loads(before.stdout)
    row["observed"] = (f"401 for {', '.join(refused)}; 200 for the operator's keys and the web login. The stand-in "
                       "webserver serves only its page, so the web UI's login call (auth.login) went to the API; "
                       "the datasets were the same before and after")
    row["data intact"] = True


# ---- 7. docs/datasets.md's dataset commands, as written -----------------------------------------------------

def documented_dataset_commands() -> list[list[str]]:
    """The commands of the first sh block of docs/datasets.md's Datasets section: continuation lines joined,
    comments dropped, split as a shell splits them."""
    section = (ROOT / "docs" / "datasets.md").read_text().split("\n## Datasets", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_documented_dataset_commands_run_as_written(lab, reliability, tmp_path):
    row = reliability("docs/datasets.md's dataset commands, in order, HOST the lab's ClearML host",
                      "each exits 0; the subset holds 2 of the 10 demo PNGs and `get` copies those 2")
    commands = documented_dataset_commands()
    verbs = [" ".join(c[1:3]) if c[1] == "datasets" else c[1] for c in commands]
    assert verbs == ["demo-data", "ingest", "subset", "datasets list", "datasets show", "datasets get"], verbs
    assert all(c[0] == "clearstack" for c in commands), commands
    # The operator's clearml.conf is the one `up` wrote (docs/datasets.md's default -i; here CLEARML_CONFIG_FILE).
    env = _dataset_env(lab)
    for command in commands:
        args = [a.replace("s3://HOST:", f"s3://{lab.address}:") for a in command[1:]]
        proc = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{shlex.join(command)}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    folder = tmp_path / "meu_dataset_subconjunto"  # `--to ./meu_dataset_subconjunto`, from the working directory
    copied = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert len(copied) == 2 and all(p.parts[0] == "imagens" and p.suffix == ".png" for p in copied), copied
    row["observed"] = f"{len(commands)} commands exited 0; `get` copied {', '.join(map(str, copied))}"
    row["data intact"] = True
