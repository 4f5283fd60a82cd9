"""preflight refuses a bad inventory or an unfit host before anything changes.

One refusal per check, each running playbooks/site.yml against the same five test hosts (one ClearML
host, four MinIO hosts on a shared network): the run must fail, the message must name the host and the
fix, no play after preflight may run, and no host may carry anything a later layer makes.

Faults are made inside the test hosts and undone after each case: a file bind-mounted over
/proc/cpuinfo, /proc/meminfo, os-release or nsswitch.conf, a small tmpfs over /opt, a python3
listener, a `date` wrapper. The role itself has no test hooks.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testhosts import changed_tasks, docker, failure_messages, host_exec, run_playbook, write_inventory
from testhosts import test_hosts as start_test_hosts  # aliased: pytest would collect a test_* name

pytestmark = pytest.mark.docker

PREFLIGHT_PLAY = "Preflight checks"
# What the layers after preflight create; none of it may exist after a refused run.
LATER_LAYER_PATHS = ["/etc/sysctl.d/99-clearml.conf", "/opt/clearml", "/opt/minio", "/etc/docker/daemon.json",
                     "/etc/apt/sources.list.d/docker.sources"]
LATER_LAYER_PACKAGES = ["docker.io", "docker-ce"]
# Should preflight ever let a run through, the docker layer installs from Debian, never from download.docker.com.
SAFE_VARS = {"docker_install_source": "distro"}


@dataclass
class Hosts:
    clearml: str
    minio: list[str]

    @property
    def all(self) -> list[str]:
        return [self.clearml, *self.minio]

    def good_shape(self) -> dict[str, list[str]]:
        return {"clearml_server": [self.clearml], "minio": list(self.minio)}


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    with start_test_hosts("clearml", "minio1", "minio2", "minio3", "minio4") as names:
        yield Hosts(clearml=names[0], minio=names[1:])


@contextlib.contextmanager
def fault(host: str, make: str, undo: str) -> Iterator[None]:
    """Make a fault inside a test host for the duration of one case; always undo it."""
    host_exec(host, make)
    try:
        yield
    finally:
        host_exec(host, undo, check=False)


def nothing_changed(hosts: Hosts) -> dict[str, list[str]]:
    """Per host, what a later layer left behind (empty when nothing changed)."""
    script = " ; ".join(
        [f'[ -e {p} ] && echo {p}' for p in LATER_LAYER_PATHS]
        + [f"dpkg-query -W -f='${{Status}}' {p} 2>/dev/null | grep -q 'ok installed' && echo package {p}"
           for p in LATER_LAYER_PACKAGES]
        + ["true"])
    found = {h: host_exec(h, script).stdout.split("\n") for h in hosts.all}
    return {h: [line for line in lines if line] for h, lines in found.items() if any(lines)}


def refuse(tmp_path: Path, hosts: Hosts, groups: dict[str, list[str]], host_vars: dict | None = None) -> str:
    """Run site.yml; assert preflight refused it and nothing changed; return the failure messages."""
    inventory = write_inventory(tmp_path / "hosts.yml", groups, host_vars, SAFE_VARS)
    rc, output, result = run_playbook("site.yml", inventory)
    assert rc != 0, "site.yml was not refused:\n" + output[-3000:]
    failures = failure_messages(result)
    assert failures, "site.yml failed without a task failure (not a preflight refusal):\n" + output[-3000:]
    later = [play["play"]["name"] for play in result.get("plays", [])
             if play["play"]["name"] != PREFLIGHT_PLAY and any(task.get("hosts") for task in play.get("tasks", []))]
    assert later == [], f"plays after preflight ran: {later}"
    assert changed_tasks(result) == {}
    assert nothing_changed(hosts) == {}
    return "\n".join(msg for msgs in failures.values() for msg in msgs)


def test_good_shape_passes_preflight(tmp_path, hosts):
    """The baseline every refusal below departs from: the fixture's hosts pass as they are."""
    inventory = write_inventory(tmp_path / "hosts.yml", hosts.good_shape(), all_vars=SAFE_VARS)
    rc, output, result = run_playbook("preflight.yml", inventory)
    assert rc == 0, output[-3000:]
    assert changed_tasks(result) == {}


def test_an_inventory_from_init_passes_preflight(tmp_path, hosts):
    """`clearstack init` for these hosts, plus only how the tests reach them (the docker connection, in a
    group_vars file of the test's own): preflight accepts the inventory as written."""
    site = tmp_path / "site"
    proc = subprocess.run([str(Path(sys.executable).parent / "clearstack"), "init", str(site), "--clearml", hosts.clearml,
                           "--minio", ",".join(hosts.minio), "--user", "root"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    (site / "group_vars/all/test_connection.yml").write_text(yaml.safe_dump(
        {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3", **SAFE_VARS}))
    rc, output, result = run_playbook("preflight.yml", site)
    assert rc == 0, output[-3000:]
    assert changed_tasks(result) == {}
    assert set(result["stats"]) == set(hosts.all)


def test_a_later_roles_precheck_refuses_a_run_of_one_layer_too(tmp_path, hosts):
    """`--tags docker` runs the preflight play (tagged always) and the tasks its includes bring (they take the
    include's tags): the kernel role's own check refuses before the docker layer starts."""
    inventory = write_inventory(tmp_path / "hosts.yml", hosts.good_shape(), None,
                                {**SAFE_VARS, "kernel_max_map_count": 65530})
    rc, output, result = run_playbook("site.yml", inventory, "--tags", "docker")
    assert rc != 0, "site.yml --tags docker was not refused:\n" + output[-3000:]
    messages = [m for msgs in failure_messages(result).values() for m in msgs]
    assert any("kernel_max_map_count is 65530, below the 262144" in m for m in messages), output[-3000:]
    assert changed_tasks(result) == {}
    assert nothing_changed(hosts) == {}


@pytest.mark.parametrize("members", ["none", "two"])
def test_clearml_server_group_must_be_one_host(tmp_path, hosts, members):
    clearml = [] if members == "none" else [hosts.clearml, hosts.minio[0]]
    message = refuse(tmp_path, hosts, {"clearml_server": clearml, "minio": hosts.minio})
    if members == "none":
        assert "Group clearml_server is empty" in message
        assert "Fix: put the host that will run the ClearML server in group clearml_server" in message
    else:
        assert f"Group clearml_server has 2 hosts: {hosts.clearml}, {hosts.minio[0]}" in message
        assert "Fix: keep one of them in group clearml_server" in message


@pytest.mark.parametrize("count", [3, 5])
def test_minio_group_must_be_four_hosts_or_one(tmp_path, hosts, count):
    minio = hosts.minio[:3] if count == 3 else [hosts.clearml, *hosts.minio]
    message = refuse(tmp_path, hosts, {"clearml_server": [hosts.clearml], "minio": minio})
    assert f"Group minio has {count} hosts: {', '.join(minio)}" in message
    hint = "add 1 host(s) to group minio" if count == 3 else "take 1 host(s) out of group minio"
    assert f"Fix: {hint}, or keep only one host in it to run all 4 nodes there" in message


def test_one_minio_host_must_be_the_clearml_host(tmp_path, hosts):
    message = refuse(tmp_path, hosts, {"clearml_server": [hosts.clearml], "minio": [hosts.minio[0]]})
    assert f"Group minio has one host, {hosts.minio[0]}, so all 4 MinIO nodes would run there" in message
    assert f"load balancer runs on the ClearML host {hosts.clearml}, which cannot reach that network" in message
    assert f"Fix: put {hosts.clearml} in group minio instead of {hosts.minio[0]} (all-in-one)" in message


def test_unsupported_os(tmp_path, hosts):
    host = hosts.minio[1]
    fake = 'NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="20.04"\nVERSION_CODENAME=focal\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n'
    with fault(host, f"printf '%b' '{fake}' > /run/os-release.fake && mount --bind /run/os-release.fake /usr/lib/os-release",
               "umount /usr/lib/os-release"):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    assert f"{host} runs Ubuntu 20.04 (focal), which clearstack does not support" in message
    assert f"Fix: install one of Debian 12, Debian 13, Ubuntu 22.04, Ubuntu 24.04 on {host}" in message


def test_clearml_host_cpu_without_avx(tmp_path, hosts):
    host = hosts.clearml
    with fault(host, "sed -E 's/ avx[a-z0-9_]*//g' /proc/cpuinfo > /run/cpuinfo.noavx"
                     " && mount --bind /run/cpuinfo.noavx /proc/cpuinfo", "umount /proc/cpuinfo"):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    assert f"The CPU of {host} (" in message and ") lacks avx" in message
    assert "Fix: run the ClearML server on an x86-64 CPU with AVX" in message


@pytest.mark.parametrize("resource", ["memory", "disk"])
def test_too_little_memory_or_disk(tmp_path, hosts, resource):
    if resource == "memory":
        host = hosts.clearml
        make = ("sed -E 's/^MemTotal:.*/MemTotal:        2048000 kB/' /proc/meminfo > /run/meminfo.small"
                " && mount --bind /run/meminfo.small /proc/meminfo")
        undo = "umount /proc/meminfo"
    else:
        # /opt as a small filesystem of its own: the MinIO data path /opt/minio does not exist yet,
        # so its nearest existing parent is measured.
        host = hosts.minio[2]
        make, undo = "mount -t tmpfs -o size=64m preflight-small /opt", "umount /opt"
    with fault(host, make, undo):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    if resource == "memory":
        assert f"{host} has 2000 MB of RAM; it needs 7680 MB (preflight_clearml_min_memory_mb = 7680)" in message
        assert f"Fix: give {host} more memory" in message
    else:
        assert re.search(rf"{host} has 0\.\d GiB free on the filesystem that will hold the MinIO drives "
                         r"\(/opt/minio, measured at /opt\); it needs 10 GiB", message), message
        assert f"Fix: free space or grow that filesystem on {host}" in message


@contextlib.contextmanager
def listener(host: str, port: int) -> Iterator[str]:
    """A process of no stack's listening on `port` inside the host; yields its pid."""
    pidfile = f"/run/preflight-listener-{port}.pid"
    docker("exec", "-d", host, "sh", "-c", f"echo $$ > {pidfile}; exec python3 -m http.server {port}")
    try:
        deadline = time.monotonic() + 10
        while not host_exec(host, f"ss -Hltn 'sport = :{port}'").stdout.strip():
            assert time.monotonic() < deadline, f"the test listener on {port} did not start"
            time.sleep(0.2)
        yield host_exec(host, f"cat {pidfile}").stdout.strip()
    finally:
        host_exec(host, f"kill $(cat {pidfile}); rm -f {pidfile}", check=False)


def test_port_taken_by_another_process(tmp_path, hosts):
    host = hosts.clearml
    with listener(host, 8008) as pid:
        message = refuse(tmp_path, hosts, hosts.good_shape())
    assert f"{host} already has listeners on ports clearstack will publish: port 8008 on 0.0.0.0:8008 held by python3 (pid {pid})" in message
    assert f"Fix: free port 8008 on {host}" in message


def test_a_port_moved_by_the_inventory_is_checked_where_it_moved(tmp_path, hosts):
    """The operator moved the API off a port something else holds: that port no longer matters, the new one does."""
    host = hosts.clearml
    moved = {host: {"clearml_server_api_port": 8018}}
    with listener(host, 8008):
        inventory = write_inventory(tmp_path / "hosts.yml", hosts.good_shape(), moved, SAFE_VARS)
        rc, output, _ = run_playbook("preflight.yml", inventory)
        assert rc == 0, output[-3000:]
    with listener(host, 8018) as pid:
        message = refuse(tmp_path, hosts, hosts.good_shape(), moved)
    assert f"port 8018 on 0.0.0.0:8018 held by python3 (pid {pid})" in message
    assert f"Fix: free port 8018 on {host}" in message


def test_minio_clock_skew(tmp_path, hosts):
    host = hosts.minio[2]
    wrapper = '#!/bin/sh\nif [ "$1" = +%s ]; then echo $(( $(/usr/bin/date +%s) + 3600 )); else exec /usr/bin/date "$@"; fi\n'
    with fault(host, f"printf '%b' '{wrapper}' > /usr/local/bin/date && chmod +x /usr/local/bin/date",
               "rm -f /usr/local/bin/date"):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    assert re.search(r"The clocks of the MinIO hosts differ by 36\d\d s, more than preflight_max_clock_skew_s = 60", message), message
    assert re.search(rf"{host} \+36\d\d s", message), message
    assert "Fix: synchronise the clocks with NTP on every MinIO host" in message


def hosts_file_only(host: str) -> contextlib.AbstractContextManager[None]:
    """The host looks names up in /etc/hosts only (no DNS): it knows itself, not the other test hosts."""
    return fault(host, "sed -E 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf > /run/nsswitch.files"
                       " && mount --bind /run/nsswitch.files /etc/nsswitch.conf", "umount /etc/nsswitch.conf")


def test_minio_host_cannot_resolve_the_others(tmp_path, hosts):
    host = hosts.minio[1]
    with hosts_file_only(host):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    others = [h for h in hosts.minio if h != host]
    assert f"{host} cannot resolve {', '.join(others)}; the MinIO nodes address each other by these names" in message
    assert f"Fix: add them to DNS or to /etc/hosts on {host}" in message


def test_clearml_host_cannot_resolve_the_minio_nodes(tmp_path, hosts):
    # The load balancer on the ClearML host (host networking) resolves the node names as that host does.
    host = hosts.clearml
    with hosts_file_only(host):
        message = refuse(tmp_path, hosts, hosts.good_shape())
    assert f"{host} cannot resolve {', '.join(hosts.minio)}; the MinIO load balancer on this ClearML host" in message
    assert f"Fix: add them to DNS or to /etc/hosts on {host}" in message
