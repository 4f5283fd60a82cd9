"""The clearml_server role's `up` (tasks_from: up) waits for clearml_server_wait_timeout, not for
Compose's first "unhealthy": on a small compose project on the local engine, a service that is
unhealthy at first and healthy later (another waits for it through depends_on service_healthy, as
apiserver waits for Elasticsearch) ends in a green `up` that a second run leaves unchanged; one that
never gets healthy fails after the timeout, naming it and its state; one that exits fails at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from testhosts import ROOT, changed_tasks, failure_messages, playbook_env, standin_bundle, docker
from standin_vars import STANDIN_IMAGE

pytestmark = pytest.mark.docker

PLAYBOOK = ROOT / "tests/integration/playbooks/clearml_server_up.yml"
# Probed every second, unhealthy after two failures: Compose sees "unhealthy" within seconds.
HEALTHCHECK = {"test": ["CMD", "test", "-f", "/tmp/ready"], "interval": "1s", "timeout": "2s", "retries": 2,
               "start_period": "0s"}


def _service(script: str, **extra) -> dict:
    return {"image": STANDIN_IMAGE, "entrypoint": ["sh", "-c", script], **extra}


def _project(tmp: Path, ready_after: int | None, crash: bool = False) -> tuple[Path, str]:
    """A compose project: `slow` is healthy `ready_after` seconds after it starts (never if None),
    `dependent` starts once `slow` is healthy, `plain` has no healthcheck; with crash, `crash` exits 3."""
    ready = f"sleep {ready_after}; touch /tmp/ready; " if ready_after is not None else ""
    services = {
        "slow": _service(f"{ready}exec sleep 3600", healthcheck=HEALTHCHECK),
        "dependent": _service("touch /tmp/ready; exec sleep 3600", healthcheck=HEALTHCHECK,
                              depends_on={"slow": {"condition": "service_healthy"}}),
        "plain": _service("exec sleep 3600"),
    }
    if crash:
        services["crash"] = _service("exit 3", restart="no")
    name = f"cs-wait-{uuid.uuid4().hex[:8]}"
    project = tmp / "compose"
    project.mkdir()
    (project / "docker-compose.yml").write_text(yaml.safe_dump({"name": name, "services": services}))
    return project, name


def _up(tmp: Path, project: Path, name: str, **extra) -> tuple[subprocess.CompletedProcess, dict, float]:
    inventory = tmp / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": {"clearml-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    values = {"clearml_server_project_dir": str(project), "clearml_server_project_name": name,
              "clearml_data_root": str(tmp / "data"), **extra}
    env = playbook_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "-e", json.dumps(values), str(PLAYBOOK)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    return proc, json.loads(proc.stdout), time.monotonic() - started


@pytest.fixture
def compose(tmp_path):
    """Build a project with _project(tmp_path, ...); whatever it started is removed afterwards."""
    standin_bundle()  # the stand-in image: built, or found current
    made: list[tuple[Path, str]] = []

    def make(*args, **kwargs):
        made.append(_project(tmp_path, *args, **kwargs))
        return made[-1]

    yield make
    for project, name in made:
        subprocess.run(["docker", "compose", "--project-directory", str(project), "-p", name, "down", "-v", "-t", "0"],
                       capture_output=True, timeout=120)


def _states(name: str) -> dict[str, str]:
    ps = docker("compose", "-p", name, "ps", "--all", "--format", "{{.Service}} {{.State}} {{.Health}}").stdout
    return {line.split()[0]: " ".join(line.split()[1:]) for line in ps.splitlines() if line.strip()}


def test_a_service_unhealthy_for_a_while_is_waited_for_and_a_second_run_changes_nothing(tmp_path, compose):
    project, name = compose(ready_after=12)
    proc, result, _ = _up(tmp_path, project, name)
    assert proc.returncode == 0, json.dumps(failure_messages(result)) + proc.stderr[-2000:]
    assert _states(name) == {"slow": "running healthy", "dependent": "running healthy", "plain": "running"}
    assert "clearml_server : Bring the ClearML stack up" in changed_tasks(result)["clearml-host"]

    again, result, _ = _up(tmp_path, project, name)
    assert again.returncode == 0, json.dumps(failure_messages(result))
    assert changed_tasks(result) == {}


def test_a_service_that_never_gets_healthy_fails_after_the_timeout_naming_it(tmp_path, compose):
    project, name = compose(ready_after=None)
    proc, result, took = _up(tmp_path, project, name, clearml_server_wait_timeout=15)
    assert proc.returncode != 0
    said = " ".join(failure_messages(result)["clearml-host"])
    assert "did not become healthy within 15 s" in said, said
    assert "slow (running, unhealthy)" in said and "dependent (created)" in said and "plain" not in said.split("Read")[0], said
    assert f"docker compose --project-directory {project} logs slow dependent" in said, said
    # It waited out the timeout rather than stopping at Compose's first "unhealthy".
    assert took >= 15, took


def test_a_service_that_exited_fails_without_waiting_out_the_timeout(tmp_path, compose):
    project, name = compose(ready_after=0, crash=True)
    proc, result, took = _up(tmp_path, project, name)
    assert proc.returncode != 0
    said = " ".join(failure_messages(result)["clearml-host"])
    assert "a service exited or has no container" in said and "crash (exited with code 3)" in said, said
    assert "logs crash" in said, said
    assert took < 120, took
