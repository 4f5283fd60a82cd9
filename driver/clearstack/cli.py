"""The `clearstack` command: each verb maps onto one playbook."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import __version__, dataset_cli
from .paths import DEFAULT_INVENTORY
from .progress import Progress, summary
from . import secrets as secret_store
from .runner import RunResult, run_playbook

# Exit codes, documented in the README and in `clearstack check --help`.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2


def _inventory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"inventory {value} does not exist (a hosts.yml file or a directory holding one)")
    return path.resolve()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", type=_inventory, default=DEFAULT_INVENTORY,
                        help="Ansible inventory file or directory (default: inventory/local, this host all-in-one)")
    parser.add_argument("-l", "--limit", help="only these hosts or groups (Ansible --limit pattern)")
    parser.add_argument("-t", "--tags", help="only these layers, comma-separated: preflight, kernel, clearml_dirs, docker")
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
                                      "--pipeline, then run a dataset pipeline spec (see `clearstack run`).")
    _common(up)
    up.add_argument("--pipeline", type=Path, metavar="SPEC",
                    help="after provisioning, apply this pipeline spec (validated before anything changes)")
    up.add_argument("--s3-endpoint", help="HOST:PORT for the pipeline's sources (see `clearstack run`)")

    check = verbs.add_parser("check", help="dry run: report what `up` would change, per host and task",
                             description="Run playbooks/site.yml in check mode with diff and change nothing. "
                                         f"Exit code {EXIT_OK}: in sync; {EXIT_DRIFT}: drift found (listed per "
                                         f"host and task); {EXIT_ERROR}: a check or a host failed.")
    _common(check)

    creds = verbs.add_parser("credentials", help="where the generated credentials and clearml.conf are; --show prints them",
                             description="Credentials are generated on the first `up` (or `check`) and kept, mode "
                                         "0600, in .clearstack/secrets.yml next to the inventory; later runs reuse "
                                         "them. Nothing prints them but --show.")
    creds.add_argument("-i", "--inventory", type=_inventory, default=DEFAULT_INVENTORY, help="Ansible inventory")
    creds.add_argument("--show", action="store_true", help="print the values too (mind who watches your screen)")
    creds.add_argument("--json", action="store_true", help="print JSON")

    dataset_cli.add_parsers(verbs)
    return parser


def _report(result: RunResult, args: argparse.Namespace, verb: str) -> None:
    if args.json:
        print(json.dumps({"verb": verb, "rc": result.rc, "status": result.status,
                          "hosts": {h: asdict(r) for h, r in result.hosts.items()}}, indent=2))
        return
    print(summary(result))


def _run_dataset_verb(args: argparse.Namespace) -> int:
    from .datasets.errors import DATASET_ERRORS

    try:
        return dataset_cli.run(args)
    except DATASET_ERRORS as err:
        dataset_cli.clear_progress()
        print(f"clearstack {args.verb}: {err}", file=sys.stderr)
        return EXIT_ERROR


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "handler"):
        return _run_dataset_verb(args)
    pipeline = getattr(args, "pipeline", None)
    if pipeline is not None:
        # Validated now, so a bad spec is refused before anything changes.
        from .datasets.spec import SpecError, load_spec

        try:
            load_spec(pipeline, args.s3_endpoint)
        except SpecError as err:
            print(f"clearstack up: {err}", file=sys.stderr)
            return EXIT_ERROR
    try:
        if args.verb == "credentials":
            return _credentials(args)
        secrets = secret_store.ensure(args.inventory)
    except secret_store.SecretStoreError as err:
        print(f"clearstack {args.verb}: {err}", file=sys.stderr)
        return EXIT_ERROR
    progress = Progress()
    result = run_playbook(
        "site.yml",
        args.inventory,
        check=args.verb == "check",
        diff=args.verb == "check",
        limit=args.limit,
        tags=args.tags,
        verbosity=max(args.verbose - 1, 0),
        progress=None if args.json else progress,
        show_output=args.verbose > 0,
        secrets=secrets,
    )
    progress.done()
    _report(result, args, args.verb)
    if not result.succeeded:
        if not args.json:
            print(f"clearstack {args.verb}: failed (see the FAILED lines above)", file=sys.stderr)
        return EXIT_ERROR
    if args.verb == "check":
        if result.changed and not args.json:
            print("drift found: `clearstack up` would make the changes listed above")
        return EXIT_DRIFT if result.changed else EXIT_OK
    if pipeline is not None:
        args.spec, args.handler = pipeline, dataset_cli.run_spec
        return _run_dataset_verb(args)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
