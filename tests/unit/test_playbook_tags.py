"""Which tasks a `--tags` run gets: the layer asked for, and always the preflight checks before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _listed_tasks(*args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run(["ansible-playbook", "--list-tasks", "-i", str(ROOT / "inventory/sample"),
                           str(ROOT / "playbooks/site.yml"), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("layer", ["kernel", "docker", "minio", "clearml_server"])
def test_a_layer_run_alone_still_runs_preflight_first(layer):
    """`clearstack up --tags docker` used to run no preflight check at all (its play was tagged
    `preflight` only): a bad inventory reached the hosts. The preflight role is tagged `always`."""
    listed = _listed_tasks("--tags", layer)
    assert "play #1 (clearml_server:minio): Preflight checks" in listed
    preflight = listed.split("play #2", 1)[0]
    # Ansible tags every role's argument check `always`: the checks themselves must be there too.
    checks = [line for line in preflight.splitlines() if "preflight :" in line and "Validating arguments" not in line]
    assert len(checks) >= 10, preflight[-1500:]
    assert f"{layer} :" in listed


def test_skipping_always_is_the_one_way_to_leave_preflight_out():
    listed = _listed_tasks("--tags", "docker", "--skip-tags", "always")
    assert "preflight :" not in listed
    assert "docker : Write /etc/docker/daemon.json" in listed
