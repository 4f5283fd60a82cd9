"""`clearstack init DIR`: a site inventory ready for `up`: hosts.yml (templates/site/hosts.yml.j2) and the
commented group_vars of inventory/sample, refused before anything is written when DIR already holds one
or the hosts cannot make a clearstack deployment."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ClearstackError
from . import templating
from .paths import CONTENT_ROOT

SAMPLE_GROUP_VARS = CONTENT_ROOT / "inventory" / "sample" / "group_vars"
MINIO_POOL = CONTENT_ROOT / "roles" / "minio" / "filter_plugins" / "minio_pool.py"
# An inventory host name: a DNS name or an IPv4 address, as the nodes' command line holds it.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class InitError(ClearstackError, ValueError):
    """The hosts or the directory given to `init` cannot make an inventory; the message says the fix."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str = ""  # ansible_host, when the name is not how the controller reaches it


def parse_host(value: str, option: str) -> Host:
    """NAME or NAME=ADDRESS (ADDRESS: an IP address or a DNS name)."""
    name, _, address = value.strip().partition("=")
    for part, what in ((name, "name"), (address, "address")):
        if (part or what == "name") and not (_HOST_NAME.match(part) or _is_ip(part)):
            raise InitError(f"{option} {value!r}: {part!r} is not a host {what}. Write NAME or NAME=ADDRESS, "
                            "e.g. minio1.example.internal=192.0.2.11")
    return Host(name, address)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _minio_pool_error(names: list[str]) -> str:
    """The minio role's own judgement of the node names (its filter plugin, plain Python)."""
    spec = importlib.util.spec_from_file_location("clearstack_minio_pool", MINIO_POOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.minio_pool_error(names)


def plan(clearml: Host | None, minio: list[Host], all_in_one: Host | None) -> tuple[Host, list[Host]]:
    """(ClearML host, MinIO hosts) of the deployment, or InitError naming what is wrong."""
    if all_in_one is not None:
        if clearml is not None or minio:
            raise InitError("--all-in-one HOST stands alone: it is the ClearML host and runs the four MinIO nodes. "
                            "Give either --all-in-one HOST or --clearml HOST --minio H1,H2,H3,H4")
        return all_in_one, [all_in_one]
    if clearml is None or not minio:
        raise InitError("say which hosts: --clearml HOST --minio H1,H2,H3,H4 (five hosts), or --all-in-one HOST")
    names = [h.name for h in minio]
    if len(minio) != 4 or len(set(names)) != 4:
        raise InitError(f"--minio names {len(set(names))} distinct host(s) ({', '.join(names)}): MinIO runs four "
                        "nodes, one per host. Give four, or --all-in-one HOST for one host that runs all four")
    if clearml.name in names:
        raise InitError(f"{clearml.name} is both --clearml and one of --minio: the ClearML host's MinIO load balancer "
                        "and a node would take the same ports. Give four other MinIO hosts, or --all-in-one")
    error = _minio_pool_error(names)
    if error:
        raise InitError(error)
    return clearml, minio


@dataclass
class InitResult:
    directory: str
    hosts_file: str
    group_vars: list[str]
    all_in_one: bool
    clearml: dict
    minio: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)


def write(directory: Path, clearml: Host, minio: list[Host], user: str = "") -> InitResult:
    """Write DIRECTORY/hosts.yml and DIRECTORY/group_vars/; refuses if either exists. All or nothing: the
    files are made in a temporary directory beside it and moved in."""
    if user and not _USER.match(user):
        raise InitError(f"--user {user!r} is not a user name (lower-case letters, digits, '_' and '-')")
    directory = directory.absolute()
    present = [p.name for p in (directory / "hosts.yml", directory / "group_vars") if p.exists()]
    if present:
        raise InitError(f"{directory} already holds {' and '.join(present)}: init never overwrites an inventory. "
                        "Give another directory, or edit that one")
    all_in_one = minio == [clearml]
    text = templating.render("site/hosts.yml.j2", directory=directory, clearml=clearml, minio=minio,
                             all_in_one=all_in_one, user=user)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".clearstack-init-", dir=directory))
    try:
        (staging / "hosts.yml").write_text(text)
        shutil.copytree(SAMPLE_GROUP_VARS, staging / "group_vars")
        # hosts.yml last, so an inventory exists only once its group_vars do; a link, which never
        # replaces a hosts.yml written meanwhile.
        os.rename(staging / "group_vars", directory / "group_vars")
        try:
            os.link(staging / "hosts.yml", directory / "hosts.yml")
        except OSError:
            shutil.rmtree(directory / "group_vars", ignore_errors=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(str(p.relative_to(directory)) for p in (directory / "group_vars").rglob("*.yml"))
    return InitResult(str(directory), str(directory / "hosts.yml"), files, all_in_one, asdict(clearml),
                      [asdict(h) for h in minio])
