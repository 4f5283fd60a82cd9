"""Test hosts for pytest: "fresh VMs" as local systemd containers, run as lab/host.yml says.

Molecule makes the same hosts through molecule/shared/create.yml. Every host a test creates carries
the lab-host label (value "pytest") and is removed by the code that created it (fixtures use `with test_hosts(...)`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml
from standin_vars import STANDIN_VARS

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "lab/host.yml").read_text())
BOOT_TIMEOUT_S = 90


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=timeout)


def _run_args(name: str, network: str | None) -> list[str]:
    args = ["run", "-d", "--name", name, "--hostname", name, "--label", f"{SPEC['label']}=pytest"]
    args += [f"--cap-add={cap}" for cap in SPEC["capabilities"]]
    args += [f"--security-opt={opt}" for opt in SPEC["security_opts"]]
    args += [f"--cgroupns={SPEC['cgroupns_mode']}", f"--stop-signal={SPEC['stop_signal']}"]
    args += [f"--volume={vol}" for vol in SPEC["volumes"]]
    args += [f"--tmpfs={fs}" for fs in SPEC["tmpfs"]]
    if network:
        args.append(f"--network={network}")
    return [*args, SPEC["image"]]


def wait_booted(name: str) -> None:
    """Block until systemd in the host reports running (or degraded), bounded by BOOT_TIMEOUT_S."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        state = docker("exec", name, "systemctl", "is-system-running", check=False, timeout=30).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise TimeoutError(f"test host {name} did not boot within {BOOT_TIMEOUT_S}s (systemd says {state!r})")


def remove(name: str) -> None:
    # SIGRTMIN+3 via `docker stop` lets systemd halt cleanly, so no cgroup is left behind.
    docker("stop", "-t", "20", name, check=False)
    docker("rm", "-f", "-v", name, check=False)


@contextlib.contextmanager
def test_hosts(*roles: str, network: bool = True) -> Iterator[list[str]]:
    """Start one test host per role name; yield their container names; always remove them.

    With network=True the hosts share a fresh user-defined network and resolve each other by name.
    """
    tag = uuid.uuid4().hex[:6]
    names = [f"cs-{role}-{tag}" for role in roles]
    net = f"cs-net-{tag}" if network else None
    try:
        if net:
            docker("network", "create", "--label", f"{SPEC['label']}=pytest", net)
        for name in names:
            docker(*_run_args(name, net))
        for name in names:
            wait_booted(name)
        yield names
    finally:
        for name in names:
            remove(name)
        if net:
            docker("network", "rm", net, check=False)


test_hosts.__test__ = False  # a fixture helper, not a test, despite its name


def write_inventory(path: Path, groups: dict[str, list[str]], host_vars: dict | None = None,
                    all_vars: dict | None = None) -> Path:
    """Write a YAML inventory reaching the given containers through the docker connection."""
    hosts_seen = {h for members in groups.values() for h in members}
    inventory = {
        "all": {
            "vars": {"ansible_connection": "community.docker.docker", "ansible_user": "root",
                     "ansible_python_interpreter": "/usr/bin/python3", **(all_vars or {})},
            "hosts": {h: dict((host_vars or {}).get(h, {})) for h in sorted(hosts_seen)},
            "children": {group: {"hosts": {h: None for h in members}} for group, members in groups.items()},
        }
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def host_exec(name: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return docker("exec", name, "sh", "-c", script, check=check)


def playbook_env() -> dict[str, str]:
    """Environment for running ansible-playbook from tests: the venv first on PATH, project ansible.cfg."""
    venv_bin = str(Path(os.sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def run_playbook(playbook: str, inventory: Path, *extra: str, timeout: float = 900) -> tuple[int, str, dict]:
    """Run a playbook with the json callback; return (rc, text output, parsed json or {})."""
    env = playbook_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / playbook), *extra],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    try:
        parsed = json.loads(proc.stdout)
    except json.JSONDecodeError:
        parsed = {}
    return proc.returncode, proc.stdout + proc.stderr, parsed


def changed_tasks(result: dict) -> dict[str, list[str]]:
    """Per host, the names of tasks that reported changed in a json-callback result."""
    changed: dict[str, list[str]] = {}
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("changed"):
                    changed.setdefault(host, []).append(task["task"]["name"])
    return changed


def failure_messages(result: dict) -> dict[str, list[str]]:
    """Per host, the msg of every failed task in a json-callback result."""
    failed: dict[str, list[str]] = {}
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("failed") or res.get("unreachable"):
                    failed.setdefault(host, []).append(str(res.get("msg", "")))
                    # A failed loop says only "One or more items failed"; the items say why.
                    failed[host] += [str(item.get("msg", "")) for item in res.get("results", []) if item.get("failed")]
    return failed


# ---- the clearstack CLI on an inventory, as the lab tests run it -------------------------------

CLI = Path(sys.executable).parent / "clearstack"


def clearstack(*args: str, lab, timeout: float = 1200) -> tuple[int, dict]:
    """`clearstack ARGS -i <lab.inventory> --json`: (exit code, parsed report)."""
    proc = subprocess.run([str(CLI), *args, "-i", str(lab.inventory), "--json"], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"clearstack {args}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def standin_bundle() -> str:
    """The offline bundle of the stand-in images (tests/images/build-standin-image.sh builds them, or finds
    them current); returns its path."""
    return subprocess.run([str(ROOT / "tests/images/build-standin-image.sh")], capture_output=True, text=True,
                          check=True, timeout=900).stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def standin_lab(name: str, hosts: int, directory: Path, bundle: str) -> Iterator[dict[str, dict]]:
    """`clearstack lab up` of `hosts` VMs into `directory`, with group_vars/all.yml taking the images from
    the stand-in `bundle`; yields hosts.yml's hosts. `lab down` on the way out, whatever happened."""
    try:
        subprocess.run([str(CLI), "lab", "up", "--hosts", str(hosts), "--name", name, "--dir", str(directory)],
                       check=True, capture_output=True, text=True, timeout=900)
        # A private link: a rebuild of the stand-ins by a concurrent run replaces the shared bundle.
        private = directory / Path(bundle).name
        try:
            os.link(bundle, private)
        except OSError:
            shutil.copy2(bundle, private)
        (directory / "group_vars").mkdir(exist_ok=True)
        (directory / "group_vars/all.yml").write_text(
            yaml.safe_dump({"docker_image_bundles": [str(private)], **STANDIN_VARS}))
        yield yaml.safe_load((directory / "hosts.yml").read_text())["all"]["hosts"]
    finally:
        subprocess.run([str(CLI), "lab", "down", "--name", name, "--dir", str(directory)], capture_output=True,
                       timeout=600)


def changed(report: dict) -> set[tuple[str, str]]:
    return {(host, task) for host, res in report["hosts"].items() for task in res["changed_tasks"]}


def failures(report: dict) -> dict:
    return {host: res["failed_tasks"] for host, res in report["hosts"].items() if res["failed_tasks"] or res["unreachable"]}


# ---- where generated secrets may be --------------------------------------------------------------

# Files allowed to hold a generated secret on a host, all root-only and 0600: the ClearML services'
# config files of secrets and the MinIO root credentials files. Nothing transient: no container
# reads a secret from its environment, so Docker's and containerd's container configs and runc's
# exec specs hold none.
SECRET_HOLDERS_ON_HOST = (r"^/opt/clearml/config/(secure|apiserver)\.conf$",
                          r"^/etc/clearstack/minio/root_(user|password)$")


def secrets_in_environments(host: str, stored: dict[str, str]) -> dict[str, list[str]]:
    """The names of the `stored` secrets a test host shows in `docker inspect` of its containers
    (environment, labels, command) or in the environment of any of its processes (/proc/PID/environ,
    the containers' processes included). Names only: the values are never printed."""
    patterns = "\n".join(sorted(set(stored.values()))) + "\n"
    sources = {"docker inspect": "docker ps -aq | xargs -r docker inspect",
               "/proc/*/environ": r"cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n'"}
    found = {}
    for source, command in sources.items():
        proc = subprocess.run(["docker", "exec", "-i", host, "sh", "-c",
                               f"cat > /run/secret-patterns && {{ {command}; }} | grep -oF -f /run/secret-patterns; "
                               "rm -f /run/secret-patterns"],
                              input=patterns, capture_output=True, text=True, timeout=120)
        hits = set(proc.stdout.split())
        found[source] = sorted(name for name, value in stored.items() if value in hits)
    return {source: names for source, names in found.items() if names}


def secrets_in_controller_files(values: list[str], since: Path, roots: list[Path], allowed: set[Path]) -> list[Path]:
    """Files under `roots` (each on its own file system) changed after `since`, other than `allowed`,
    that hold one of `values`: what a run left on the controller (run directories, logs, caches)."""
    newer = subprocess.run(["find", *map(str, roots), "-xdev", "-type", "f", "-newer", str(since), "-print0"],
                           capture_output=True, text=True, timeout=300).stdout.split("\0")
    candidates = [p for p in filter(None, newer) if Path(p) not in allowed]
    leaks: list[Path] = []
    # grep streams big files; the values go in on stdin, never into a file of their own.
    for start in range(0, len(candidates), 500):
        proc = subprocess.run(["grep", "-lsF", "-f", "-", "--", *candidates[start:start + 500]],
                              input="\n".join(values) + "\n", capture_output=True, text=True, timeout=300)
        leaks += [Path(p) for p in proc.stdout.splitlines()]
    return leaks


def secrets_in_host_files(host: str, values: list[str]) -> tuple[list[str], list[str]]:
    """Every file of a test host (container logs included, the kernel's /proc, /sys and /dev excluded)
    that holds one of `values`: (all of them, those SECRET_HOLDERS_ON_HOST does not allow)."""
    patterns = "\n".join(values) + "\n"
    found = subprocess.run(["docker", "exec", "-i", host, "sh", "-c",
                            "cat > /run/secret-patterns && grep -rlF -f /run/secret-patterns / "
                            "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null "
                            "| grep -v '^/run/secret-patterns$'; rm -f /run/secret-patterns"],
                           input=patterns, capture_output=True, text=True, timeout=300).stdout.split()
    return found, [p for p in found if not any(re.match(rx, p) for rx in SECRET_HOLDERS_ON_HOST)]
