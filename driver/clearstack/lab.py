"""`clearstack lab`: throwaway "VMs" on the local Docker engine, and the inventory that reaches them.

A lab is 5 hosts (1 ClearML host + 4 MinIO hosts) or 1 host (all-in-one, in both groups): systemd
containers run from the image lab/build-host-image.sh builds, with the options of lab/host.yml (the
same recipe the Molecule scenarios and the tests use), on a dedicated Docker network, with sshd and
Docker-in-Docker support. `up` writes <dir>/hosts.yml (root over SSH with a key pair made for the
lab, in <dir>/ssh/) so that `clearstack up -i <dir>` works as on real VMs. Both verbs are safe to
re-run: `up` on a lab that is up changes nothing, `down` on a lab that is gone removes nothing.

Every Docker object a lab makes carries the label clearstack.lab=<name> (and clearstack.lab-host=
lab:<name>, the recipe's label) and a name starting with <name>-; `down` removes only objects with
both. Every wait is bounded in attempts and seconds.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .errors import ClearstackError
from . import templating
from .paths import CONTENT_ROOT, DEFAULT_LAB_DIR, LAB_RECIPE

HOST_SPEC = LAB_RECIPE / "host.yml"
BUILD_SCRIPT = LAB_RECIPE / "build-host-image.sh"

DEFAULT_NAME = "clearstack-lab"
DEFAULT_DIR = DEFAULT_LAB_DIR  # inventory/lab of a checkout; in the state directory when installed
HOST_COUNTS = (1, 5)
LAB_LABEL = "clearstack.lab"
# One /24 per lab out of 10.241.0.0/16: clear of the CI engine's pools (10.230.0.0/15), of the pools
# the tests give the Docker engines inside their hosts (10.232-10.236.x) and of 10.240.0.0/16, which
# the docker role's documentation suggests for the hosts' own engines (a lab host whose inner engine
# owned the lab's range could not reach its peers).
SUBNET_POOL = ipaddress.ip_network("10.241.0.0/16")
FIRST_HOST_OCTET = 10  # <name>-clearml is .10, <name>-minioK is .10+K

BUILD_TIMEOUT_S = 900
DOCKER_TIMEOUT_S = 120
BOOT_TIMEOUT_S = 120
SSH_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20

INVENTORY_FILE = "hosts.yml"
KEY_DIR = "ssh"
KEY_FILE = "id_ed25519"
# What `clearstack up` writes next to an inventory: throwaway for a lab, removed by `lab down`.
GENERATED_BY_UP = (".clearstack", "clearml.conf")
MARKER = "# Written by `clearstack lab up --name {name}`"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class LabError(ClearstackError, RuntimeError):
    """A lab could not be brought up or down; the message names the host (if any) and the fix."""


@dataclass
class LabHost:
    name: str
    address: str
    groups: list[str]


@dataclass
class LabResult:
    name: str
    directory: str
    changed: bool = False
    actions: list[str] = field(default_factory=list)  # what was done, in order
    hosts: list[LabHost] = field(default_factory=list)
    inventory: str | None = None
    private_key: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# ---- pure parts (no Docker) ----------------------------------------------------------------------

def validate_name(name: str) -> str:
    """A lab name becomes part of container names, host names and MinIO peer addresses."""
    if not _NAME_RE.match(name) or name.endswith("-") or "--" in name:
        raise LabError(f"lab name {name!r} is not usable: use 1-40 lower-case letters, digits and single "
                       "hyphens, starting with a letter (it becomes part of each host's name)")
    return name


def validate_count(count: int) -> int:
    if count not in HOST_COUNTS:
        raise LabError(f"a lab has 5 hosts (1 ClearML host + 4 MinIO hosts) or 1 host (all-in-one), not {count}: "
                       "use --hosts 5 or --hosts 1")
    return count


def host_names(name: str, count: int) -> list[str]:
    validate_count(count)
    return [f"{name}-clearml"] + [f"{name}-minio{k}" for k in range(1, count)]


def plan_hosts(name: str, count: int, subnet: ipaddress.IPv4Network) -> list[LabHost]:
    """The lab's hosts with their fixed addresses and inventory groups."""
    names = host_names(name, count)
    base = subnet.network_address + FIRST_HOST_OCTET
    if count == 1:
        return [LabHost(names[0], str(base), ["clearml_server", "minio"])]
    return [LabHost(host, str(base + i), ["clearml_server"] if i == 0 else ["minio"]) for i, host in enumerate(names)]


def network_name(name: str) -> str:
    return f"{name}-net"


def free_subnet(used: list[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = SUBNET_POOL
                ) -> ipaddress.IPv4Network:
    """The first /24 of the pool that overlaps no network in use."""
    for candidate in pool.subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise LabError(f"every /24 of {pool} is taken by a Docker network: remove labs you no longer need "
                   "(`clearstack lab down --name NAME`)")


def render_inventory(name: str, directory: Path, hosts: list[LabHost], private_key: Path) -> str:
    """DIR/hosts.yml of the lab (templates/lab/hosts.yml.j2): root over SSH with the lab's key."""
    return templating.render("lab/hosts.yml.j2", marker=MARKER.format(name=name), name=name, directory=directory,
                             hosts=hosts, private_key=private_key)


def written_by_lab(path: Path, name: str) -> bool:
    """Whether `path` is an inventory `lab up --name NAME` wrote (so `lab` may replace or remove it)."""
    try:
        first = path.read_text().splitlines()[:1]
    except OSError:
        return False
    return bool(first) and first[0].startswith(MARKER.format(name=name) + ":")


def host_spec() -> dict:
    return yaml.safe_load(HOST_SPEC.read_text())


def run_args(spec: dict, lab: str, host: LabHost, network: str) -> list[str]:
    """`docker run` arguments for one lab host, from lab/host.yml."""
    args = ["run", "-d", "--name", host.name, "--hostname", host.name,
            "--label", f"{spec['label']}=lab:{lab}", "--label", f"{LAB_LABEL}={lab}",
            "--network", network, "--ip", host.address]
    args += [f"--cap-add={cap}" for cap in spec["capabilities"]]
    args += [f"--security-opt={opt}" for opt in spec["security_opts"]]
    args += [f"--cgroupns={spec['cgroupns_mode']}", f"--stop-signal={spec['stop_signal']}"]
    args += [f"--volume={vol}" for vol in spec["volumes"]]
    args += [f"--tmpfs={fs}" for fs in spec["tmpfs"]]
    return [*args, spec["image"]]


# ---- Docker and SSH ------------------------------------------------------------------------------

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def docker(*args: str, check: bool = True, timeout: float = DOCKER_TIMEOUT_S,
           input: str | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"`docker {' '.join(args[:3])} ...` did not answer within {timeout:.0f}s: is the Docker "
                       "engine overloaded? (`docker info`)") from err
    if check and proc.returncode != 0:
        raise LabError(f"`docker {' '.join(args[:4])} ...` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _require_tools() -> None:
    if not shutil.which("docker"):
        raise LabError("no docker CLI on PATH: install Docker (Debian: apt-get install docker.io)")
    if docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30).returncode != 0:
        raise LabError("no Docker engine answers (`docker info` fails): start it (systemctl start docker, or "
                       "scripts/start-dockerd.sh on machines without systemd)")


def _require_ssh_tools() -> None:
    for tool in ("ssh-keygen", "ssh"):
        if not shutil.which(tool):
            raise LabError(f"{tool} is missing: install the OpenSSH client (Debian: apt-get install openssh-client)")


def build_image(say: Say) -> str:
    """Build or reuse the lab host image (cached by its recipe hash); return the script's last line."""
    say("lab host image: checking (the first build debootstraps Debian 13, about a minute)")
    try:
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              cwd=CONTENT_ROOT)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"building the lab host image took more than {BUILD_TIMEOUT_S}s: check the Debian mirror "
                       f"(set CLEARSTACK_LAB_MIRROR) and /var/cache/clearstack/lab-images/debootstrap.log") from err
    if proc.returncode != 0:
        raise LabError(f"building the lab host image failed ({BUILD_SCRIPT}): {proc.stderr.strip()[-1500:]}")
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _used_subnets() -> list[ipaddress.IPv4Network]:
    ids = docker("network", "ls", "-q").stdout.split()
    if not ids:
        return []
    used = []
    for net in json.loads(docker("network", "inspect", *ids).stdout):
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            try:
                used.append(ipaddress.ip_network(cfg.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    return [net for net in used if net.version == 4]


def _network(name: str) -> dict | None:
    proc = docker("network", "inspect", network_name(name), check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def ensure_network(name: str, spec: dict, result: LabResult, say: Say) -> ipaddress.IPv4Network:
    net_name = network_name(name)
    for _attempt in range(3):  # another `lab up` may create or take a subnet at the same moment
        existing = _network(name)
        if existing is not None:
            if (existing.get("Labels") or {}).get(LAB_LABEL) != name:
                raise LabError(f"a Docker network named {net_name} exists and is not lab {name}'s: remove it "
                               f"(docker network rm {net_name}) or pick another --name")
            return ipaddress.ip_network(existing["IPAM"]["Config"][0]["Subnet"])
        subnet = free_subnet(_used_subnets())
        say(f"network {net_name}: creating ({subnet})")
        proc = docker("network", "create", "--driver", "bridge", "--subnet", str(subnet),
                      "--label", f"{LAB_LABEL}={name}", "--label", f"{spec['label']}=lab:{name}", net_name,
                      check=False)
        if proc.returncode == 0:
            result.actions.append(f"created network {net_name} ({subnet})")
            return subnet
        if "already exists" not in proc.stderr and "overlap" not in proc.stderr:
            raise LabError(f"creating Docker network {net_name} failed: {proc.stderr.strip()}")
    raise LabError(f"could not create Docker network {net_name} after 3 attempts: run `clearstack lab up` again")


def _containers(name: str) -> dict[str, str]:
    """The lab's containers (by label and name prefix) and their states."""
    out = docker("ps", "-a", "--filter", f"label={LAB_LABEL}={name}", "--format", "{{.Names}}\t{{.State}}").stdout
    found = {}
    for line in out.splitlines():
        cname, _, state = line.partition("\t")
        if cname.startswith(f"{name}-"):
            found[cname] = state
    return found


def _address(host: str, net_name: str) -> str:
    out = docker("inspect", "-f", f'{{{{with index .NetworkSettings.Networks "{net_name}"}}}}{{{{.IPAddress}}}}'
                 "{{end}}", host).stdout.strip()
    if not out:
        raise LabError(f"lab host {host} is not on network {net_name}: recreate the lab (`clearstack lab down` "
                       "then `clearstack lab up`)")
    return out


def ensure_hosts(name: str, planned: list[LabHost], spec: dict, result: LabResult, say: Say) -> None:
    net_name = network_name(name)
    existing = _containers(name)
    extra = sorted(set(existing) - {h.name for h in planned})
    if extra:
        raise LabError(f"lab {name} already has host(s) {', '.join(extra)} that a {len(planned)}-host lab does not: "
                       f"run `clearstack lab down --name {name}` (with its --dir) first to change its size")
    for host in planned:
        state = existing.get(host.name)
        if state is None:
            if docker("container", "inspect", host.name, check=False).returncode == 0:
                raise LabError(f"a container named {host.name} exists and is not part of lab {name}: remove it "
                               "or pick another --name")
            say(f"{host.name}: starting ({host.address})")
            docker(*run_args(spec, name, host, net_name))
            result.actions.append(f"started new host {host.name}")
        elif state != "running":
            say(f"{host.name}: starting the stopped container")
            docker("start", host.name)
            result.actions.append(f"started stopped host {host.name}")
        host.address = _address(host.name, net_name)


def wait_booted(host: str, timeout_s: float = BOOT_TIMEOUT_S) -> None:
    """Until systemd in the host says running (or degraded), bounded in time and attempts."""
    deadline = time.monotonic() + timeout_s
    state = ""
    for _attempt in range(int(timeout_s) + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            proc = subprocess.run(["docker", "exec", host, "systemctl", "is-system-running", "--wait"],
                                  capture_output=True, text=True, timeout=max(left, 1))
            state = proc.stdout.strip() or proc.stderr.strip()
        except subprocess.TimeoutExpired:
            state = "still starting"
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise LabError(f"lab host {host} did not finish booting within {timeout_s:.0f}s (systemd says {state!r}): "
                   f"see `docker exec {host} systemctl --failed`; `clearstack lab down` then `lab up` starts over")


def ensure_key(directory: Path, name: str, result: LabResult, say: Say) -> Path:
    key_dir = directory / KEY_DIR
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    key = key_dir / KEY_FILE
    if not (key.exists() and key.with_suffix(".pub").exists()):
        for stale in (key, key.with_suffix(".pub")):
            stale.unlink(missing_ok=True)
        say(f"SSH key: generating {key}")
        proc = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"clearstack-lab:{name}",
                               "-f", str(key)], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"ssh-keygen failed: {proc.stderr.strip()}")
        result.actions.append(f"generated SSH key pair {key}")
    os.chmod(key, 0o600)
    return key


def ensure_authorized_key(host: str, public_key: str, result: LabResult) -> None:
    current = docker("exec", host, "cat", "/root/.ssh/authorized_keys", check=False).stdout
    if current.strip() == public_key.strip():
        return
    docker("exec", "-i", host, "sh", "-c",
           "umask 077 && mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys.new "
           "&& mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys", input=public_key)
    result.actions.append(f"installed the lab's SSH key for root on {host}")


def _ssh_banner(address: str, timeout: float = 3) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh(host: LabHost, key: Path, timeout_s: float = SSH_TIMEOUT_S) -> None:
    """Until root logs in with the lab's key, bounded in time and attempts."""
    deadline = time.monotonic() + timeout_s
    error = "sshd does not answer on port 22"
    for _attempt in range(int(timeout_s) + 1):
        if time.monotonic() > deadline:
            break
        if _ssh_banner(host.address):
            try:
                proc = subprocess.run(
                    ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                     f"root@{host.address}", "true"], capture_output=True, text=True, timeout=15)
                if proc.returncode == 0:
                    return
                error = proc.stderr.strip() or f"ssh exited {proc.returncode}"
            except subprocess.TimeoutExpired:
                error = "ssh login timed out"
        time.sleep(1)
    raise LabError(f"lab host {host.name} ({host.address}): root cannot log in over SSH within {timeout_s:.0f}s "
                   f"({error}): see `docker exec {host.name} systemctl status ssh`; is {host.address} reachable "
                   "from here (the Docker engine must run on this machine)?")


# ---- the verbs -----------------------------------------------------------------------------------

def up(name: str = DEFAULT_NAME, count: int = 5, directory: Path = DEFAULT_DIR, say: Say = _quiet) -> LabResult:
    """Bring lab NAME up (or check that it is) and write DIRECTORY/hosts.yml for it."""
    validate_name(name)
    validate_count(count)
    directory = Path(directory).expanduser().resolve()
    inventory = directory / INVENTORY_FILE
    if inventory.exists() and not written_by_lab(inventory, name):
        raise LabError(f"{inventory} exists and was not written by `clearstack lab up --name {name}`: it is kept; "
                       "pick another --dir (or --name, if it is another lab's)")
    _require_tools()
    _require_ssh_tools()
    result = LabResult(name=name, directory=str(directory))
    say(build_image(say))
    spec = host_spec()
    subnet = ensure_network(name, spec, result, say)
    planned = plan_hosts(name, count, subnet)
    ensure_hosts(name, planned, spec, result, say)
    for host in planned:
        say(f"{host.name}: waiting for systemd")
        wait_booted(host.name)
    key = ensure_key(directory, name, result, say)
    public_key = key.with_suffix(".pub").read_text()
    for host in planned:
        ensure_authorized_key(host.name, public_key, result)
    for host in planned:
        say(f"{host.name}: waiting for SSH")
        wait_ssh(host, key)
    text = render_inventory(name, directory, planned, key)
    if not inventory.exists() or inventory.read_text() != text:
        tmp = inventory.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(inventory)
        result.actions.append(f"wrote {inventory}")
    result.changed = bool(result.actions)
    result.hosts, result.inventory, result.private_key = planned, str(inventory), str(key)
    return result


def down(name: str = DEFAULT_NAME, directory: Path = DEFAULT_DIR, say: Say = _quiet) -> LabResult:
    """Remove lab NAME's containers and network and the files `lab up` (and `clearstack up`) made in DIRECTORY."""
    validate_name(name)
    directory = Path(directory).expanduser().resolve()
    result = LabResult(name=name, directory=str(directory))
    _require_tools()
    hosts = sorted(_containers(name))
    if hosts:
        say(f"stopping {', '.join(hosts)} (systemd halts cleanly, up to {STOP_TIMEOUT_S}s)")
        docker("stop", "-t", str(STOP_TIMEOUT_S), *hosts, check=False, timeout=STOP_TIMEOUT_S + DOCKER_TIMEOUT_S)
        docker("rm", "-f", "-v", *hosts)
        result.actions += [f"removed host {h}" for h in hosts]
    network = _network(name)
    if network is not None and (network.get("Labels") or {}).get(LAB_LABEL) == name:
        docker("network", "rm", network_name(name))
        result.actions.append(f"removed network {network_name(name)}")
    result.actions += _remove_files(directory, name)
    result.changed = bool(result.actions)
    return result


def _lab_key(key_dir: Path, name: str) -> bool:
    try:
        return (key_dir / f"{KEY_FILE}.pub").read_text().split()[-1] == f"clearstack-lab:{name}"
    except (OSError, IndexError):
        return False


def _remove_files(directory: Path, name: str) -> list[str]:
    """Only from a directory whose hosts.yml this lab wrote (or, after a partial `up`, holding its key)."""
    inventory = directory / INVENTORY_FILE
    key_dir = directory / KEY_DIR
    ours = written_by_lab(inventory, name)
    if not ours and not (not inventory.exists() and _lab_key(key_dir, name)):
        return []
    removed = []
    for path in (key_dir / KEY_FILE, key_dir / f"{KEY_FILE}.pub"):
        if path.exists():
            path.unlink()
            removed.append(f"removed {path}")
    with_contents = [directory / entry for entry in GENERATED_BY_UP] if ours else []
    for path in with_contents:
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(f"removed {path}/")
        elif path.exists():
            path.unlink()
            removed.append(f"removed {path}")
    if ours:
        inventory.unlink()
        removed.append(f"removed {inventory}")
    for folder in (key_dir, directory):
        try:
            folder.rmdir()  # only when empty: files a user put there stay
        except OSError:
            pass
    return removed
