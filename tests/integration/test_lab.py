"""`clearstack lab up|down` end to end on the local Docker engine: a 1-host lab that Ansible reaches
over SSH with the generated inventory, `up` again changing nothing, `down` leaving nothing behind
(twice). The lab is named pytest-lab-<random>, so scripts/test.sh clears it if a run is interrupted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from testhosts import playbook_env

pytestmark = pytest.mark.docker

CLEARSTACK = [str(Path(sys.executable).parent / "clearstack")]


def clearstack(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLEARSTACK, *args], capture_output=True, text=True, timeout=timeout, env=playbook_env())


def docker_names(kind: str, name: str) -> list[str]:
    listing = ["ps", "-a"] if kind == "container" else ["network", "ls"]
    out = subprocess.run(["docker", *listing, "--filter", f"name={name}", "--format", "{{.Names}}" if
                          kind == "container" else "{{.Name}}"], capture_output=True, text=True, timeout=60).stdout
    return [line for line in out.split() if line.startswith(name)]


@pytest.fixture
def lab(tmp_path):
    name = f"pytest-lab-{uuid.uuid4().hex[:6]}"
    where = tmp_path / "lab"
    try:
        yield name, where
    finally:
        clearstack("lab", "down", "--name", name, "--dir", str(where))


def test_lab_up_is_reachable_over_ssh_idempotent_and_down_leaves_nothing(lab):
    name, where = lab
    first = clearstack("lab", "up", "--hosts", "1", "--name", name, "--dir", str(where), "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["changed"] and result["inventory"] == str(where / "hosts.yml")
    assert result["next"] == f"clearstack up -i {where}"
    assert (where / "ssh" / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert (where / "ssh").stat().st_mode & 0o777 == 0o700

    ping = subprocess.run(["ansible", "-i", str(where / "hosts.yml"), "all", "-m", "ansible.builtin.ping"],
                          capture_output=True, text=True, timeout=120, env=playbook_env())
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert f"{name}-clearml | SUCCESS" in ping.stdout

    again = clearstack("lab", "up", "--hosts", "1", "--name", name, "--dir", str(where))
    assert again.returncode == 0, again.stderr
    assert "already up: nothing changed" in again.stdout

    down = clearstack("lab", "down", "--name", name, "--dir", str(where))
    assert down.returncode == 0, down.stderr
    assert docker_names("container", name) == [] and docker_names("network", name) == []
    assert not (where / "hosts.yml").exists() and not (where / "ssh").exists()

    twice = clearstack("lab", "down", "--name", name, "--dir", str(where))
    assert twice.returncode == 0, twice.stderr
    assert "nothing to remove" in twice.stdout


def test_lab_up_names_the_fix_for_a_bad_size():
    proc = clearstack("lab", "up", "--hosts", "3", timeout=60)
    assert proc.returncode == 2 and "--hosts 5 or --hosts 1" in proc.stderr
