"""site.yml on a fresh all-in-one test VM through the driver's runner: converge, re-run with 0
changed, and `verify`, `status` and `down` through the CLI. The secret scan of an all-in-one host is in
test_reliability_lab.py, after the whole flow there; the drift catalogue (its daemon.json and stopped
ClearML container cases too, which this file also ran on one host, 15 minutes of one worker, until
CI no longer fitted in its 90) runs on the five-host lab (test_lab_stack.py). MinIO and the ClearML stack run from the
stand-in images (tests/images/build-standin-image.sh), which reach the host as an offline bundle.

The test host's vm.max_map_count is a file bind-mounted inside it, so the CI machine's own kernel
value is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clearstack import secrets as secret_store
from clearstack.runner import RunResult, run_playbook as run_with_secrets
from standin_vars import STANDIN_VARS
from testhosts import host_exec, standin_bundle, test_hosts, write_inventory

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


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
        bundle = standin_bundle()
        inventory = write_inventory(
            tmp_path_factory.mktemp("drift") / "hosts.yml",
            {"clearml_server": [host], "minio": [host]},
            all_vars={"docker_install_source": "distro", "docker_image_bundles": [bundle], **STANDIN_VARS},
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


def _cli(*args: str, inventory: Path) -> tuple[int, dict]:
    proc = subprocess.run([str(Path(sys.executable).parent / "clearstack"), *args, "-i", str(inventory), "--json"],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"clearstack {args}: rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _data_files(host: str) -> str:
    return host_exec(host, "find /opt/clearml/data /opt/minio -type f | sort").stdout


def test_verify_status_and_down_keep_data(converged):
    host, inventory = converged
    rc, report = _cli("verify", inventory=inventory)
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    # 4 MinIO nodes, the load balancer, 7 ClearML services, ping and an authenticated login.
    assert len(report["checks"]) == 14

    host_exec(host, "docker stop minio3")
    rc, report = _cli("verify", inventory=inventory)
    assert rc == 3
    assert [c["check"] for c in report["checks"] if not c["ok"]] == ["MinIO node minio3 /minio/health/cluster"]
    rc, report = _cli("status", inventory=inventory)
    states = {c["name"]: c["state"] for c in report["containers"]}
    assert states["minio3"] == "exited" and states["clearml-apiserver"] == "running"

    host_exec(host, "echo kept > /opt/clearml/data/fileserver/marker.txt")
    before = _data_files(host)
    rc, report = _cli("down", inventory=inventory)
    assert rc == 0
    rc, report = _cli("status", inventory=inventory)
    assert {c["state"] for c in report["containers"]} == {"exited"}, report["containers"]
    # Nothing lost (Redis may add its dump.rdb on the way down).
    assert set(_data_files(host).split()) >= set(before.split())

    rc, report = _cli("up", inventory=inventory)
    assert rc == 0
    rc, report = _cli("verify", inventory=inventory)
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    assert host_exec(host, "cat /opt/clearml/data/fileserver/marker.txt").stdout == "kept\n"
    assert _changed(run_playbook("site.yml", inventory)) == []


def test_down_deletes_data_only_when_confirmed(converged):
    host, inventory = converged
    host_exec(host, "echo gone > /opt/clearml/data/fileserver/marker.txt")
    rc = subprocess.run([str(Path(sys.executable).parent / "clearstack"), "down", "--delete-data", "-i", str(inventory)],
                        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL).returncode
    assert rc == 1  # nobody to confirm: refused, nothing stopped
    assert host_exec(host, "docker inspect -f '{{.State.Running}}' clearml-apiserver").stdout.strip() == "true"

    rc, _ = _cli("down", "--delete-data", "--yes", inventory=inventory)
    assert rc == 0
    assert host_exec(host, "test -e /opt/clearml/data || test -e /opt/minio || echo deleted").stdout == "deleted\n"
    assert host_exec(host, "docker ps -aq | wc -l").stdout.strip() == "0"

    rc, _ = _cli("up", inventory=inventory)
    assert rc == 0
    rc, report = _cli("verify", inventory=inventory)
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    assert host_exec(host, "test -e /opt/clearml/data/fileserver/marker.txt || echo fresh").stdout == "fresh\n"
