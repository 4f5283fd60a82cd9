"""site.yml on a fresh all-in-one test VM through the driver's runner: converge, re-run with 0
changed, check mode reporting exactly each injected drift, and `up` repairing it. MinIO runs from
the stand-in image (tests/images/build-standin-image.sh), which reaches the host as an offline bundle.

The test host's vm.max_map_count is a file bind-mounted inside it, so the CI machine's own kernel
value is never touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from clearstack import secrets as secret_store
from clearstack.runner import RunResult, run_playbook as run_with_secrets
from testhosts import host_exec, test_hosts, write_inventory

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
STANDIN_IMAGE = "clearstack-test/standins:local"


def run_playbook(playbook, inventory, **kwargs) -> RunResult:
    """As `clearstack up` runs it: with the inventory's generated secrets."""
    return run_with_secrets(playbook, inventory, secrets=secret_store.ensure(inventory), **kwargs)


def _changed(result: RunResult) -> list[str]:
    return [task for host in result.hosts.values() for task in host.changed_tasks]


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    """One all-in-one test host (both groups) converged by site.yml; yields (host name, inventory)."""
    with test_hosts("drift") as (host,):
        host_exec(host, "echo 65530 > /run/max_map_count && mount --bind /run/max_map_count /proc/sys/vm/max_map_count")
        bundle = subprocess.run([str(ROOT / "tests/images/build-standin-image.sh")], capture_output=True, text=True,
                                check=True, timeout=900).stdout.strip().splitlines()[-1]
        inventory = write_inventory(
            tmp_path_factory.mktemp("drift") / "hosts.yml",
            {"clearml_server": [host], "minio": [host]},
            all_vars={"docker_install_source": "distro", "docker_image_bundles": [bundle],
                      "minio_image": STANDIN_IMAGE, "minio_lb_image": STANDIN_IMAGE, "minio_health_delay": 2},
        )
        first = run_playbook("site.yml", inventory)
        assert first.succeeded, first.hosts
        assert first.changed
        yield host, inventory


def test_second_up_changes_nothing(converged):
    _, inventory = converged
    second = run_playbook("site.yml", inventory)
    assert second.succeeded, second.hosts
    assert _changed(second) == []


def test_check_on_a_converged_host_reports_no_change(converged):
    _, inventory = converged
    result = run_playbook("site.yml", inventory, check=True, diff=True)
    assert result.succeeded, result.hosts
    assert _changed(result) == []


# (case, shell command that injects the drift, substrings naming the tasks that must report it)
DRIFT_CASES = [
    ("sysctl value lowered", "echo 65530 > /proc/sys/vm/max_map_count", ["vm.max_map_count"]),
    ("sysctl file removed", "rm /etc/sysctl.d/99-clearml.conf", ["vm.max_map_count"]),
    ("data directory owner changed", "chown 0:0 /opt/clearml/data/redis", ["ClearML data tree"]),
    ("data directory removed", "rmdir /opt/clearml/logs", ["ClearML data tree"]),
    ("daemon.json edited", "sed -i 's/\"max-file\": *\"[0-9]*\"/\"max-file\": \"9\"/' /etc/docker/daemon.json",
     ["daemon.json", "Restart"]),
]


@pytest.mark.parametrize("case,inject,expected", DRIFT_CASES, ids=[c[0] for c in DRIFT_CASES])
def test_check_reports_exactly_the_drift_and_up_repairs_it(converged, case, inject, expected):
    host, inventory = converged
    host_exec(host, inject)

    check = run_playbook("site.yml", inventory, check=True, diff=True)
    assert check.succeeded, check.hosts
    reported = _changed(check)
    for needle in expected:
        assert any(needle in task for task in reported), f"{case}: check reported {reported}, expected {needle!r}"
    assert len(reported) == len(expected), f"{case}: check reported more than the drift: {reported}"

    repair = run_playbook("site.yml", inventory)
    assert repair.succeeded, repair.hosts
    assert len(_changed(repair)) == len(expected), _changed(repair)

    after = run_playbook("site.yml", inventory, check=True)
    assert after.succeeded and _changed(after) == [], _changed(after)
