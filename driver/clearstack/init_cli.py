"""The `clearstack init DIR` verb: write a site inventory for real hosts (driver/clearstack/site_init.py).

The handler follows the dataset verbs' protocol (`args.handler(args)` returns the result for --json and
the text for people); an InitError ends the command with one line naming the fix, exit 1 (cli._fail).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import site_init
from .cli_help import ExampleFormatter

EXAMPLE = """\
examples:
  clearstack init inventory/site --clearml clearml.example.internal=192.0.2.10 \\
      --minio minio1.example.internal=192.0.2.11,minio2.example.internal=192.0.2.12,\\
minio3.example.internal=192.0.2.13,minio4.example.internal=192.0.2.14 --user debian
  clearstack init inventory/one --all-in-one clearml.example.internal --user root
  clearstack check -i inventory/site && clearstack up -i inventory/site"""


def _host(option: str):
    def parse(value: str) -> site_init.Host:
        try:
            return site_init.parse_host(value, option)
        except site_init.InitError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
    return parse


def _hosts(value: str) -> list[site_init.Host]:
    return [_host("--minio")(part) for part in value.split(",") if part.strip()]


def add_parsers(verbs) -> None:
    init = verbs.add_parser(
        "init", help="write a site inventory (hosts.yml + commented group_vars) for your hosts, ready for `up`",
        description="Write DIR/hosts.yml for one ClearML host and four MinIO hosts (or one all-in-one host) and "
                    "DIR/group_vars/all/*.yml, every setting commented out with its default (a copy of "
                    "inventory/sample's). Each host is NAME or NAME=ADDRESS (ADDRESS becomes ansible_host). The "
                    "MinIO names must count up around one prefix and suffix (minio1..minio4), as the nodes' "
                    "command holds them as one range. Refused, with nothing written, when DIR already holds a "
                    "hosts.yml or group_vars/.",
        epilog=EXAMPLE, formatter_class=ExampleFormatter)
    init.add_argument("directory", type=Path, metavar="DIR", help="the inventory directory to write (made if missing)")
    init.add_argument("--clearml", type=_host("--clearml"), metavar="HOST", help="the ClearML host (exactly one)")
    init.add_argument("--minio", type=_hosts, default=[], metavar="H1,H2,H3,H4", help="the four MinIO hosts")
    init.add_argument("--all-in-one", type=_host("--all-in-one"), metavar="HOST",
                      help="one host for everything: the ClearML stack and the four MinIO nodes")
    init.add_argument("--user", default="", help="the SSH user (ansible_user); become is set when it is not root")
    init.add_argument("--json", action="store_true", help="print the result as JSON for machines")
    init.set_defaults(handler=_init, command="init")


def _init(args) -> tuple[dict, str]:
    clearml, minio = site_init.plan(args.clearml, args.minio, args.all_in_one)
    result = site_init.write(args.directory, clearml, minio, args.user)
    shape = "all-in-one on " + clearml.name if result.all_in_one else \
        f"ClearML on {clearml.name}, MinIO on {', '.join(h.name for h in minio)}"
    text = "\n".join([
        f"wrote {result.hosts_file} ({shape})",
        f"  and {len(result.group_vars)} commented settings files under {result.directory}/group_vars/",
        f"next: clearstack check -i {result.directory}   then: clearstack up -i {result.directory}",
    ])
    return result.as_dict(), text
