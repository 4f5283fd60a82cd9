"""The `clearstack` command: each verb maps onto one playbook."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import ClearstackError
from .cli_help import examples
from . import __version__, dataset_cli, images_cli, init_cli, lab_cli, playbook_guard, reports, runlock
from .paths import DEFAULT_INVENTORY, ensure_default_inventory
from .progress import Progress, summary
from . import secrets as secret_store
from .runner import RunResult, run_playbook

# Exit codes, documented in the README and in `clearstack check --help` / `verify --help`.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2
EXIT_UNHEALTHY = 3

LAYERS = "preflight, kernel, clearml_dirs, docker, minio, clearml_server, clearml_client"


def _inventory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"inventory {value} does not exist (a hosts.yml file or a directory holding one)")
    return path.resolve()


def _common(parser: argparse.ArgumentParser, layers: bool = True) -> None:
    """The options of the playbook verbs; --tags only where the playbook's tasks carry the layer tags
    (site.yml): verify.yml, status.yml and down.yml do not, so there it would match nothing and pass."""
    parser.add_argument("-i", "--inventory", type=_inventory, default=DEFAULT_INVENTORY,
                        help=f"Ansible inventory file or directory (default: {DEFAULT_INVENTORY}, this host all-in-one)")
    parser.add_argument("-l", "--limit", help="only these hosts or groups (Ansible --limit pattern)")
    if layers:
        parser.add_argument("-t", "--tags", help=f"only these layers, comma-separated: {LAYERS}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="show Ansible's output (-vv, -vvv for more)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON for machines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearstack",
        description="Stand up and keep running a self-hosted ClearML server and a four-node MinIO cluster "
                    "on the hosts of an Ansible inventory.",
    )
    parser.add_argument("--version", action="version", version=f"clearstack {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    up = verbs.add_parser("up", help="provision the hosts (safe to re-run: repairs drift, changes nothing else)",
                          description="Apply playbooks/site.yml: preflight checks, then every layer in order. "
                                      "A re-run repairs what drifted and reports 0 changed otherwise. With "
                                      "--pipeline, then run a dataset pipeline spec (see `clearstack run`).",
                          **examples("clearstack up -i inventory/site",
                                     "clearstack up -i inventory/site --tags docker,minio   # only these layers",
                                     "clearstack up -i inventory/lab --pipeline spec.yml --s3-endpoint lab-clearml:9000"))
    _common(up)
    up.add_argument("--pipeline", type=Path, metavar="SPEC",
                    help="after provisioning, apply this pipeline spec (validated before anything changes)")
    up.add_argument("--s3-endpoint", help="HOST:PORT for the pipeline's sources (see `clearstack run`)")

    check = verbs.add_parser("check", help="dry run: report what `up` would change, per host and task",
                             description="Run playbooks/site.yml in check mode with diff and change nothing. "
                                         f"Exit code {EXIT_OK}: in sync; {EXIT_DRIFT}: drift found (listed per "
                                         f"host and task); {EXIT_ERROR}: a check or a host failed.",
                             **examples("clearstack check -i inventory/site", "clearstack check -i inventory/site --json"))
    _common(check)

    verify = verbs.add_parser("verify", help="live health of everything deployed (read only)",
                              description="Ask every deployed part whether it works, changing nothing: each MinIO "
                                          "node's /minio/health/cluster, the S3 load balancer, each ClearML service's "
                                          "healthcheck, the API's /debug.ping and a login with the operator's keys. "
                                          f"Exit code {EXIT_OK}: all healthy; {EXIT_UNHEALTHY}: a check failed (listed); "
                                          f"{EXIT_ERROR}: a host could not be asked.",
                              **examples("clearstack verify -i inventory/site", "clearstack verify -i inventory/site --json"))
    _common(verify, layers=False)

    status = verbs.add_parser("status", help="the containers on every host and their state (read only)",
                              description="List every container on the inventory's hosts with its image and "
                                          "state (running, exited, healthy ...), changing nothing.",
                              **examples("clearstack status -i inventory/site", "clearstack status -i inventory/site -l minio"))
    _common(status, layers=False)

    down = verbs.add_parser("down", help="stop ClearML and MinIO; data is kept (--delete-data deletes it)",
                            description="Stop the ClearML stack, the S3 load balancer and the MinIO nodes. "
                                        "Containers and data stay; `clearstack up` starts them again. With "
                                        "--delete-data the containers are removed and so are the ClearML data "
                                        "(/opt/clearml/data) and every MinIO drive: it asks first, or takes --yes.",
                            **examples("clearstack down -i inventory/site            # stop; data kept",
                                       "clearstack down -i inventory/lab --delete-data --yes"))
    _common(down, layers=False)
    down.add_argument("--delete-data", action="store_true",
                      help="also remove the containers and DELETE all ClearML data and every object in MinIO")
    down.add_argument("--yes", action="store_true", help="do not ask before deleting data (for scripts)")

    creds = verbs.add_parser("credentials", help="where the generated credentials and clearml.conf are; --show prints them",
                             description="Credentials are generated on the first `up` (or `check`) and kept, mode "
                                         "0600, in .clearstack/secrets.yml next to the inventory; later runs reuse "
                                         "them. Nothing prints them but --show.",
                             **examples("clearstack credentials -i inventory/site",
                                        "clearstack credentials -i inventory/site --show --json"))
    creds.add_argument("-i", "--inventory", type=_inventory, default=DEFAULT_INVENTORY, help="Ansible inventory")
    creds.add_argument("--show", action="store_true", help="print the values too (mind who watches your screen)")
    creds.add_argument("--json", action="store_true", help="print JSON")

    dataset_cli.add_parsers(verbs)
    init_cli.add_parsers(verbs)
    lab_cli.add_parsers(verbs)
    images_cli.add_parsers(verbs)
    return parser


def _fail(args: argparse.Namespace, err: object) -> int:
    """The one place an expected error is printed: `clearstack COMMAND: MESSAGE` on stderr, exit 1."""
    print(f"clearstack {getattr(args, 'command', None) or args.verb}: {err}", file=sys.stderr)
    return EXIT_ERROR


def _run_handler_verb(args: argparse.Namespace) -> int:
    """A verb that is a Python handler, not a playbook (the dataset verbs, `init`, `lab`, `images`). dataset_cli.run
    keeps stdout for the result (SDK chatter goes to stderr). A ClearstackError becomes one line; so do the
    ClearML SDK's own settings errors, looked up only once one is raised (importing them imports the SDK)."""
    try:
        return dataset_cli.run(args)
    except ClearstackError as err:
        dataset_cli.clear_progress()
        return _fail(args, err)
    except Exception as err:
        from .datasets.errors import SDK_SETTINGS_ERRORS

        if not isinstance(err, SDK_SETTINGS_ERRORS):
            raise
        dataset_cli.clear_progress()
        return _fail(args, err)


def _credentials(args: argparse.Namespace) -> int:
    path = secret_store.store_path(args.inventory)
    stored = secret_store.load(path)
    base = args.inventory if args.inventory.is_dir() else args.inventory.parent
    report = {"secrets_file": str(path), "exists": path.exists(), "names": sorted(stored),
              "clearml_conf": str(base / "clearml.conf")}
    if args.show:
        report["values"] = stored
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"secrets: {path}{'' if path.exists() else ' (not generated yet: run `clearstack up`)'}")
        print(f"clearml.conf: {report['clearml_conf']}")
        for name in report["names"]:
            print(f"  {name}" + (f": {stored[name]}" if args.show else ""))
    return EXIT_OK


PLAYBOOK_OF = {"up": "site.yml", "check": "site.yml", "verify": "verify.yml", "status": "status.yml",
               "down": "down.yml"}
# Read-only reports share the inventory's run lock with each other; the others hold it alone (runlock.py).
SHARED_LOCK = {"verify", "status"}


def _confirm_delete(args: argparse.Namespace) -> bool:
    """--delete-data goes ahead only with --yes or a typed confirmation on a terminal."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print("clearstack down --delete-data: refusing without --yes when nobody can confirm (stdin is not a "
              "terminal). Nothing was changed.", file=sys.stderr)
        return False
    print(f"This removes the ClearML and MinIO containers of {args.inventory} and DELETES all ClearML data "
          "(/opt/clearml/data) and every object stored in MinIO. It cannot be undone.")
    answer = input("Type 'delete' to go on: ")
    if answer.strip() != "delete":
        print("Nothing was changed.")
        return False
    return True


def _print_result(result: RunResult, args: argparse.Namespace) -> None:
    if args.json:
        out = {"verb": args.verb, "rc": result.rc, "status": result.status,
               "stopped_by_preflight": result.stopped_by_preflight, "hosts": {h: asdict(r) for h, r in result.hosts.items()}}
        if args.verb == "verify":
            out["checks"] = reports.checks(result)
        elif args.verb == "status":
            out["containers"] = reports.containers(result)
        print(json.dumps(out, indent=2))
        return
    if args.verb == "verify":
        found = reports.checks(result)
        print(reports.table(found, ["host", "check", "ok", "detail"]))
        failed = [r for r in found if not r["ok"]]
        print(f"{len(found) - len(failed)} of {len(found)} checks passed")
    elif args.verb == "status":
        print(reports.table(reports.containers(result), ["host", "name", "image", "state", "status"]))
    else:
        print(summary(result))
    if args.verb == "up" and result.succeeded:
        for host in result.hosts.values():
            for name, where in host.reports.get("endpoints", []):
                print(f"{name}: {where}")
        print(f"credentials: {secret_store.store_path(args.inventory)} (`clearstack credentials --show`)")
    for host, res in sorted(result.hosts.items()):
        if res.unreachable:
            print(f"{host}: UNREACHABLE; check that it is up and that SSH works (ansible -m ping {host})",
                  file=sys.stderr)


def _run_playbook_verb(args: argparse.Namespace, lock: runlock.RunLock) -> int:
    if args.verb in ("up", "check"):
        secrets = secret_store.ensure(args.inventory)
    else:
        # verify/status/down never make credentials: they only read what `up` deployed.
        secrets = secret_store.load(secret_store.store_path(args.inventory))
    if args.verb == "verify" and not secrets:
        return _fail(args, f"no credentials at {secret_store.store_path(args.inventory)}: nothing was deployed from "
                           "this inventory yet (run `clearstack up`)")
    delete = bool(getattr(args, "delete_data", False))
    progress = Progress()
    try:
        result = run_playbook(
            PLAYBOOK_OF[args.verb],
            args.inventory,
            check=args.verb == "check",
            diff=args.verb == "check",
            limit=args.limit,
            tags=getattr(args, "tags", None),
            verbosity=max(args.verbose - 1, 0),
            progress=None if args.json else progress,
            show_output=args.verbose > 0,
            secrets=secrets or None,
            extravars={"clearml_server_delete_data": True, "minio_delete_data": True} if delete else None,
            lock=lock,
        )
    finally:
        progress.done()
    _print_result(result, args)
    if not result.succeeded:
        return _fail(args, "failed (see the FAILED lines above)") if not args.json else EXIT_ERROR
    if args.verb == "check":
        if result.changed and not args.json:
            print("drift found: `clearstack up` would make the changes listed above")
        return EXIT_DRIFT if result.changed else EXIT_OK
    if args.verb == "verify" and not all(row["ok"] for row in reports.checks(result)):
        return EXIT_UNHEALTHY
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "handler"):
        return _run_handler_verb(args)
    pipeline = getattr(args, "pipeline", None)
    if pipeline is not None:
        # Validated now, so a bad spec is refused before anything changes.
        from .datasets.spec import SpecError, load_spec

        try:
            load_spec(pipeline, args.s3_endpoint)
        except SpecError as err:
            return _fail(args, err)
    if args.verb == "down" and args.delete_data and not _confirm_delete(args):
        return EXIT_ERROR
    if getattr(args, "inventory", None) == DEFAULT_INVENTORY:
        ensure_default_inventory()  # installed: copied into the state directory on first use
    try:
        if args.verb == "credentials":
            return _credentials(args)
        # Taken before the secrets too: two first `up`s at once would each generate and store their own.
        with runlock.acquire(args.inventory, f"clearstack {args.verb}", shared=args.verb in SHARED_LOCK) as lock, \
                playbook_guard.stopping():
            code = _run_playbook_verb(args, lock)
    except ClearstackError as err:  # the secret store, the run lock
        return _fail(args, err)
    except (KeyboardInterrupt, playbook_guard.Stopped) as err:
        signum = err.signum if isinstance(err, playbook_guard.Stopped) else signal.SIGINT
        print(f"clearstack {args.verb}: stopped by {signal.Signals(signum).name}; its playbook was stopped too "
              "(a later run picks up from where the hosts are)", file=sys.stderr)
        return 128 + signum
    if code == EXIT_OK and pipeline is not None:
        args.spec, args.handler = pipeline, dataset_cli.run_spec
        return _run_handler_verb(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
