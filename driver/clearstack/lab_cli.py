"""The `clearstack lab up|down` verbs: a local lab of throwaway hosts to try clearstack without VMs.

Each sub-verb's handler follows the dataset verbs' protocol (`args.handler(args)` returns the result
for --json and the text for people); a LabError ends the command with one line naming the fix, exit 1
(printed by cli._fail).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import lab
from .cli_help import examples

UP_DESCRIPTION = (
    "Start throwaway Debian 13 hosts as containers on this machine's Docker engine, so you can try "
    "clearstack (or run its tests) without VMs: 5 hosts by default (one ClearML host, NAME-clearml, and "
    "four MinIO hosts, NAME-minio1..4), or 1 host in both groups with --hosts 1. Each host boots systemd, "
    "runs sshd and can run Docker inside, like a fresh VM. The first run builds the host image with "
    "debootstrap from this machine's Debian mirror (about a minute, needs root; set CLEARSTACK_LAB_MIRROR "
    "to use another mirror); later runs reuse it. Then it writes DIR/hosts.yml, an Ansible inventory that "
    "logs in as root with an SSH key made for this lab (kept in DIR/ssh/), so that `clearstack up -i DIR` "
    "works as on real VMs. Running it again on a lab that is up changes nothing and says so. "
    f"The hosts get addresses from {lab.SUBNET_POOL} (one /24 per lab) and are reachable only from this machine.")

DOWN_DESCRIPTION = (
    "Stop and remove lab NAME: its containers (stopped cleanly first) and its Docker network, then, in DIR, "
    "the hosts.yml and SSH key pair `lab up` wrote AND what `clearstack up` generated there for the lab "
    "(DIR/.clearstack/ with the lab's credentials, and DIR/clearml.conf): a lab's data and credentials are "
    "throwaway. Only containers and networks labelled as lab NAME's are touched, and files only when "
    "DIR/hosts.yml was written by `lab up --name NAME`; other files in DIR stay. Safe to run twice.")


def _count(value: str) -> int:
    try:
        return lab.validate_count(int(value))
    except (ValueError, lab.LabError) as err:
        raise argparse.ArgumentTypeError(str(err) if isinstance(err, lab.LabError) else
                                         f"--hosts takes a number, 5 or 1 (got {value!r})") from err


def _name(value: str) -> str:
    try:
        return lab.validate_name(value)
    except lab.LabError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", type=_name, default=lab.DEFAULT_NAME,
                        help=f"the lab's name, the prefix of its hosts' names (default {lab.DEFAULT_NAME}); "
                             "several labs with different names can run side by side")
    parser.add_argument("--dir", type=Path, default=lab.DEFAULT_DIR, metavar="DIR",
                        help=f"where the lab's inventory (hosts.yml) and SSH key live (default {lab.DEFAULT_DIR})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON for machines")


def add_parsers(verbs) -> None:
    parser = verbs.add_parser("lab", help="throwaway local hosts (containers) + their inventory, to try clearstack",
                              description="A lab: hosts that behave like fresh Debian 13 VMs, as containers on "
                                          "this machine's Docker engine, and the Ansible inventory that reaches "
                                          "them over SSH. `clearstack lab up`, then `clearstack up -i DIR` "
                                          f"(--dir, default {lab.DEFAULT_DIR}); `clearstack lab down` removes it all.",
                              **examples("clearstack lab up", "clearstack lab down"))
    actions = parser.add_subparsers(dest="lab_action", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start the lab's hosts and write their inventory (safe to re-run)",
                            description=UP_DESCRIPTION,
                            **examples("clearstack lab up && clearstack up -i inventory/lab",
                                       "clearstack lab up --hosts 1 --name aio --dir /tmp/aio"))
    up.add_argument("--hosts", type=_count, default=5, metavar="N",
                    help="5 (1 ClearML host + 4 MinIO hosts, the default) or 1 (one host in both groups)")
    _common(up)
    up.set_defaults(handler=_up, command="lab up")

    down = actions.add_parser("down", help="remove the lab's hosts, network, key pair, inventory and credentials",
                              description=DOWN_DESCRIPTION,
                              **examples("clearstack lab down", "clearstack lab down --name aio --dir /tmp/aio"))
    _common(down)
    down.set_defaults(handler=_down, command="lab down")


def _say(args):
    if args.json:
        return lambda msg: None
    return lambda msg: print(f"lab {args.name}: {msg}", file=sys.stderr, flush=True)


def venv_command(name: str) -> str:
    """How to call one of this venv's commands (clearstack, ansible) from the user's shell: its bare name
    when PATH finds this very file (an activated venv), else its full path, since scripts/up.sh and
    bootstrap put nothing on PATH."""
    own = Path(sys.executable).parent / name  # not resolved: a venv's python is a link out of the venv
    found = shutil.which(name)
    return name if found and Path(found).resolve() == own.resolve() else str(own)


def _up(args) -> tuple[dict, str]:
    result = lab.up(args.name, args.hosts, args.dir, say=_say(args))
    directory = Path(result.directory)
    out = result.as_dict()
    clearstack = venv_command("clearstack")
    out["next"] = f"{clearstack} up -i {directory}"
    width = max(len(h.name) for h in result.hosts)
    if result.changed:
        lines = [f"lab {result.name}: up, {len(result.actions)} change(s):"] + [f"  + {a}" for a in result.actions]
    else:
        lines = [f"lab {result.name}: already up: nothing changed"]
    lines += [f"  {h.name:<{width}}  {h.address:<15}  {', '.join(h.groups)}" for h in result.hosts]
    lines += [f"inventory: {result.inventory}",
              f"try:  {venv_command('ansible')} -i {result.inventory} all -m ping",
              f"next: {out['next']}",
              f"done: {clearstack} lab down --name {result.name} --dir {directory}"]
    return out, "\n".join(lines)


def _down(args) -> tuple[dict, str]:
    result = lab.down(args.name, args.dir, say=_say(args))
    if not result.changed:
        return result.as_dict(), f"lab {result.name}: nothing to remove (no such lab here)"
    return result.as_dict(), "\n".join([f"lab {result.name}: removed"] + [f"  {a}" for a in result.actions])
