"""clearstack on a five-host lab over SSH (one ClearML host, four MinIO hosts), the stand-in images
arriving through the offline bundle: `up` from scratch, a re-run that changes and recreates nothing,
the drift catalogue (each case detected by `check` naming the host and the task, repaired by `up`,
then 0 changed; the table is printed at the end of the run), a host powered off during `up` (after
preflight), and Ctrl-C during `up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from testhosts import CLI, changed, clearstack, failures, host_exec, standin_bundle, standin_lab, wait_booted
from run_processes import as_in_a_terminal

pytestmark = pytest.mark.docker



@dataclass
class Lab:
    name: str
    inventory: Path

    def host(self, role: str) -> str:
        return f"{self.name}-{role}"


def containers(host: str) -> list[str]:
    """Name, ID and start time of every container inside a lab host."""
    out = host_exec(host, "docker ps -aq | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}'").stdout
    return sorted(out.splitlines())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = f"pytest-stack-{uuid.uuid4().hex[:6]}"
    directory = tmp_path_factory.mktemp("lab")
    with standin_lab(name, 5, directory, standin_bundle()):
        the_lab = Lab(name, directory)
        rc, report = clearstack("up", lab=the_lab)
        assert rc == 0, failures(report)
        assert len(report["hosts"]) == 5
        yield the_lab


def test_second_up_changes_nothing_and_recreates_no_container(lab):
    hosts = [lab.host("clearml")] + [lab.host(f"minio{i}") for i in range(1, 5)]
    before = {h: containers(h) for h in hosts}
    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    assert changed(report) == set()
    assert {h: containers(h) for h in hosts} == before
    rc, report = clearstack("verify", lab=lab)
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    # 4 nodes, the load balancer, 7 ClearML services, ping and an authenticated login.
    assert len(report["checks"]) == 14


# (case, host role or "controller", injection, substrings of the tasks `check` must name on that host).
# Cases run in rounds: one `check`, `up`, `check` cycle per round, not per case (each cycle costs about
# two minutes on the lab). Within a round no two cases share a host AND a needle, so each case is told
# apart in the report (the two sysctl cases and the two data tree cases are in different rounds), and
# at most one case takes a MinIO node out: with two of the four out, `check`'s read-only bucket check
# through minio1 finds no quorum and fails instead of reporting the drift.
DRIFT_ROUNDS = [
    [
        ("sysctl value lowered", "clearml", "echo 65530 > /proc/sys/vm/max_map_count", ["vm.max_map_count"]),
        ("data directory owner changed", "clearml", "chown 0:0 /opt/clearml/data/redis", ["ClearML data tree"]),
        ("ClearML compose file edited", "clearml", "echo '# edited by hand' >> /opt/clearml/compose/docker-compose.yml",
         ["docker-compose.yml"]),
        ("clearml.conf deleted", "controller", None, ["clearml.conf"]),
        ("MinIO node container removed", "minio3", "docker rm -f minio", ["MinIO node containers"]),
    ],
    [
        ("sysctl file deleted", "clearml", "rm /etc/sysctl.d/99-clearml.conf", ["vm.max_map_count"]),
        ("data directory deleted", "clearml", "rmdir /opt/clearml/agent", ["ClearML data tree"]),
        ("ClearML container stopped", "clearml", "docker stop clearml-webserver", ["Bring the ClearML stack up"]),
        ("docker stopped", "minio2", "systemctl stop docker.socket docker.service", ["Start docker"]),
    ],
    [
        ("daemon.json edited", "minio1",
         "sed -i 's/\"max-file\": *\"[0-9]*\"/\"max-file\": \"9\"/' /etc/docker/daemon.json", ["daemon.json"]),
        # The node reads its password from a file: changed there and the node restarted with it.
        ("MinIO root password changed on one node", "minio4",
         "echo changed-by-hand-1 > /etc/clearstack/minio/root_password && docker restart minio",
         ["MinIO root credentials files"]),
    ],
]
# The cases that take a MinIO node out of the cluster while `check` runs.
MINIO_NODE_OUT = {"docker stopped", "MinIO node container removed", "MinIO root password changed on one node"}


def test_drift_rounds_tell_their_cases_apart():
    for cases in DRIFT_ROUNDS:
        seen = [("clearml" if role == "controller" else role, needle) for _, role, _, needles in cases for needle in needles]
        assert len(seen) == len(set(seen)), seen
        assert len(MINIO_NODE_OUT & {case for case, *_ in cases}) <= 1, [case for case, *_ in cases]


@pytest.mark.parametrize("cases", DRIFT_ROUNDS, ids=[" + ".join(c[0] for c in cases) for cases in DRIFT_ROUNDS])
def test_drift_is_detected_by_check_and_repaired_by_up(lab, drift_table, cases):
    rows = [{"case": case, "detected by check": False, "repaired by up": False, "0 changed after": False}
            for case, *_ in cases]
    drift_table.extend(rows)
    hosts = [lab.host("clearml" if role == "controller" else role) for _, role, _, _ in cases]
    for (_, role, inject, _), host in zip(cases, hosts):
        if role == "controller":
            (lab.inventory / "clearml.conf").unlink()
        else:
            host_exec(host, inject)

    rc, report = clearstack("check", lab=lab)
    reported = changed(report)
    assert rc == 2, (rc, failures(report))
    missed = []
    for (case, _, _, expected), host, row in zip(cases, hosts, rows):
        row["detected by check"] = all(any(h == host and needle in task for h, task in reported) for needle in expected)
        if not row["detected by check"]:
            missed.append(case)
    assert not missed, f"check did not report {missed}: it reported {sorted(reported)}"
    assert {h for h, _ in reported} == set(hosts), f"check reported other hosts too: {sorted(reported)}"

    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    for row in rows:
        row["repaired by up"] = True

    rc, report = clearstack("check", lab=lab)
    assert rc == 0 and changed(report) == set(), sorted(changed(report))
    for row in rows:
        row["0 changed after"] = True


def _wait_for_file(host: str, path: str, run: subprocess.Popen, timeout: float) -> None:
    """Until path exists on host; fails at once, with its output, if the run ends before that."""
    deadline = time.monotonic() + timeout
    while host_exec(host, f"test -e {path}", check=False).returncode != 0:
        if run.poll() is not None:
            out, err = run.communicate()
            raise AssertionError(f"up ended (rc {run.returncode}) before {path} appeared:\n{out[-3000:]}\n{err[-2000:]}")
        assert time.monotonic() < deadline, f"{path} did not appear on {host} within {timeout:.0f} s"
        time.sleep(0.5)


def test_a_host_powered_off_after_preflight_is_named_and_the_others_finish(lab):
    """Powered off mid-run, after preflight passed (preflight itself would refuse the whole run, by design:
    an unreachable host there stops every host). The others finish their layers; a later up converges."""
    clearml, down = lab.host("clearml"), lab.host("minio4")
    # Work for the ClearML host before and after the moment minio4 goes: the kernel layer restores the
    # sysctl file (our sign that preflight is over), the ClearML layer starts the stopped webserver.
    host_exec(clearml, "rm /etc/sysctl.d/99-clearml.conf && docker stop clearml-webserver")
    proc = subprocess.Popen([str(CLI), "up", "-i", str(lab.inventory), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        _wait_for_file(clearml, "/etc/sysctl.d/99-clearml.conf", proc, timeout=600)
        subprocess.run(["docker", "stop", "-t", "20", down], check=True, capture_output=True, timeout=120)
        out, err = proc.communicate(timeout=1200)
        report = json.loads(out) if out.strip() else {}
        assert proc.returncode == 1, (proc.returncode, err[-2000:])
        assert report["hosts"][down]["unreachable"]
        assert not report["stopped_by_preflight"]
        reachable = {h: r for h, r in report["hosts"].items() if h != down}
        assert all(not r["failed"] and not r["unreachable"] for r in reachable.values()), failures(report)
        assert any("Bring the ClearML stack up" in t for t in report["hosts"][clearml]["changed_tasks"]), \
            report["hosts"][clearml]["changed_tasks"]
        assert host_exec(clearml, "docker inspect -f '{{.State.Running}}' clearml-webserver").stdout.strip() == "true"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
        subprocess.run(["docker", "start", down], check=True, capture_output=True, timeout=120)
        wait_booted(down)
    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    rc, report = clearstack("up", lab=lab)
    assert rc == 0 and changed(report) == set(), sorted(changed(report))


def test_ctrl_c_during_up_then_up_converges(lab):
    host_exec(lab.host("clearml"), "rm /etc/sysctl.d/99-clearml.conf && docker stop clearml-webserver")
    # Its own process group, signalled as a whole, as a terminal's Ctrl-C reaches clearstack and Ansible.
    proc = subprocess.Popen(as_in_a_terminal([str(CLI), "up", "-i", str(lab.inventory)]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    time.sleep(15)  # inside the run: preflight and the first layers take longer than this
    os.killpg(proc.pid, signal.SIGINT)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("clearstack up did not stop within 120 s of Ctrl-C")
    assert rc != 0
    rc, report = clearstack("up", lab=lab)
    assert rc == 0, failures(report)
    rc, report = clearstack("up", lab=lab)
    assert rc == 0 and changed(report) == set(), sorted(changed(report))
