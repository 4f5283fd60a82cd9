"""The dataset verbs of `clearstack`: ingest, subset, datasets list|show|get.

Each validates its input, then calls one function of clearstack.datasets. Errors are printed as one
line that says what to fix, with exit code 1; nothing is created on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .cli_help import examples

EXIT_OK = 0


def _say(args):
    """Progress on one self-overwriting stderr line, only on a terminal."""
    if args.json or not sys.stderr.isatty():
        return None
    return lambda msg: print(f"\r\033[K{msg}", end="", file=sys.stderr, flush=True)


def clear_progress() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return number


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value} does not exist")
    return path


def _matching_help() -> str:
    from .datasets.selection import MATCHING_HELP

    return MATCHING_HELP


def _selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wildcard", help="keep files whose name (or path, if it has a /) matches, e.g. '*.png'. "
                                           + _matching_help())
    parser.add_argument("--prefix", help="keep files under this dataset path, e.g. imagens/raw/")
    parser.add_argument("--max-count", type=_positive_int, help="keep the first N files (sorted by path)")
    parser.add_argument("--sample", type=_positive_int, help="keep a random sample of N files (needs --seed)")
    parser.add_argument("--fraction", type=float, help="keep this fraction of the files, e.g. 0.1")
    parser.add_argument("--seed", type=int, help="random seed for --sample/--fraction: the same seed, the same files")
    parser.add_argument("--from-file", type=_existing_file, help="keep exactly the dataset paths listed in this file, one per line")


def _selection(args):
    from .datasets.selection import Selection

    listing = tuple(args.from_file.read_text().splitlines()) if args.from_file else None
    return Selection(wildcard=args.wildcard, prefix=args.prefix, max_count=args.max_count, sample=args.sample,
                     fraction=args.fraction, seed=args.seed, listing=listing)


def _inventory_arg(parser: argparse.ArgumentParser) -> None:
    from .paths import DEFAULT_INVENTORY

    parser.add_argument("-i", "--inventory", type=Path, default=DEFAULT_INVENTORY,
                        help="the inventory `clearstack up` ran on: its clearml.conf is used unless CLEARML_CONFIG_FILE "
                             f"is set (default: {DEFAULT_INVENTORY}; without one there, ~/clearml.conf)")


def add_parsers(verbs) -> None:
    ingest = verbs.add_parser(
        "ingest", help="register objects of a MinIO bucket as a ClearML dataset (links only, no bytes copied)",
        description="List s3://HOST:PORT/BUCKET/PREFIX/, register the matching objects as external links of "
                    "PROJECT/NAME and finalize it. Re-running with an unchanged source creates nothing; new or "
                    "deleted objects make a child version holding just that difference. ClearML's own outputs in "
                    "the bucket (any dataset's state, file zips and previews under <project>/.datasets/) are never "
                    "registered; the result says how many were left out.",
        **examples("clearstack ingest s3://clearml-host:9000/clearml/raw/ --project meu_projeto --name meu_dataset "
                   "--wildcard '*.png' --dataset-path /imagens"))
    ingest.add_argument("source", help="s3://HOST:PORT/BUCKET/PREFIX/ (the port is required)")
    ingest.add_argument("--project", required=True, help="ClearML project of the dataset")
    ingest.add_argument("--name", required=True, help="dataset name")
    ingest.add_argument("--wildcard", action="append",
                        help="only objects whose path under the prefix matches, e.g. '*.png' (repeatable). "
                             + _matching_help())
    ingest.add_argument("--no-recursive", action="store_true", help="only objects directly under the prefix")
    ingest.add_argument("--dataset-path", default="/", help="folder inside the dataset for the files (default /)")
    ingest.add_argument("--tag", action="append", help="dataset tag (repeatable)")
    ingest.add_argument("--output-uri", help="where ClearML stores the dataset state (default: the files server)")
    ingest.add_argument("--json", action="store_true", help="print the result as JSON")
    _inventory_arg(ingest)
    ingest.set_defaults(handler=_ingest)

    sub = verbs.add_parser(
        "subset", help="derive a dataset holding a selection of another's files (zero-copy, keeps lineage)",
        description="Create NAME as a child of the parent dataset holding exactly the selected files. No object "
                    "bytes move. The same selection of the same parent twice gives one dataset.",
        **examples("clearstack subset --parent-project meu_projeto --parent-name meu_dataset --name sub --max-count 2",
                   "clearstack subset --parent-id ID --name cam0 --prefix imagens/cam0/"))
    sub.add_argument("--name", required=True, help="name of the subset dataset")
    sub.add_argument("--project", help="project of the subset (default: the parent's)")
    sub.add_argument("--parent-id", help="parent dataset id")
    sub.add_argument("--parent-project", help="parent project (with --parent-name: its latest finalized version)")
    sub.add_argument("--parent-name", help="parent dataset name")
    sub.add_argument("--tag", action="append", help="dataset tag (repeatable)")
    _selection_args(sub)
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
    _inventory_arg(sub)
    sub.set_defaults(handler=_subset)

    run = verbs.add_parser(
        "run", help="apply a pipeline spec: its ingests, then its subsets",
        description="Validate the whole spec, then run each ingest and subset in order. Without SPEC: the "
                    "runbook's example (PNGs of bucket clearml -> meu_projeto/meu_dataset, then a 2-file subset).",
        **examples("clearstack run --s3-endpoint clearml-host:9000   # the runbook's example", "clearstack run spec.yml"))
    run.add_argument("spec", nargs="?", type=Path, help="pipeline spec (YAML); default: the runbook's example")
    run.add_argument("--s3-endpoint", help="HOST:PORT replacing the endpoint of every source, e.g. clearml-host:9000")
    run.add_argument("--json", action="store_true", help="print the results as JSON")
    _inventory_arg(run)
    run.set_defaults(handler=run_spec)

    demo = verbs.add_parser("demo-data", help="put sample PNG files into a bucket, to have something to ingest",
                            description="Put small PNG files under s3://HOST:PORT/BUCKET/PREFIX/ (bucket created "
                                        "if missing). Credentials come from clearml.conf, as for ingest.",
                            **examples("clearstack demo-data s3://clearml-host:9000/clearml/raw/ --count 20"))
    demo.add_argument("target", nargs="?", default="s3://localhost:9000/clearml/",
                      help="where to put them (default s3://localhost:9000/clearml/)")
    demo.add_argument("--count", type=_positive_int, default=10, help="how many files (default 10)")
    demo.add_argument("--json", action="store_true", help="print the keys as JSON")
    _inventory_arg(demo)
    demo.set_defaults(handler=_demo)

    datasets = verbs.add_parser("datasets", help="list, show or fetch datasets",
                                **examples("clearstack datasets list", "clearstack datasets show --project p --name n",
                                           "clearstack datasets get --id ID --to ./copy"))
    actions = datasets.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="finalized datasets, newest first",
                                 **examples("clearstack datasets list --project meu_projeto --json"))
    listing.add_argument("--project", help="only this project")
    listing.add_argument("--json", action="store_true", help="print JSON")
    _inventory_arg(listing)
    listing.set_defaults(handler=_list, command="datasets list")
    for action, text in (("show", "a dataset's versions, parents and files"), ("get", "a complete local copy")):
        parser = actions.add_parser(action, help=text, **examples(
            f"clearstack datasets {action} --project meu_projeto --name meu_dataset" + (" --to ./copy" if action == "get" else ""),
            f"clearstack datasets {action} --id ID" + (" --to ./pngs --wildcard '*.png'" if action == "get" else " --json")))
        parser.add_argument("--id", help="dataset id")
        parser.add_argument("--project", help="project (with --name: the latest finalized version)")
        parser.add_argument("--name", help="dataset name")
        parser.add_argument("--json", action="store_true", help="print JSON")
        _inventory_arg(parser)
        if action == "get":
            parser.add_argument("--to", type=Path, help="copy into this new folder (default: ClearML's cache)")
            _selection_args(parser)
            parser.set_defaults(handler=_get, command="datasets get")
        else:
            parser.set_defaults(handler=_show, command="datasets show")


def run(args) -> int:
    """Run the verb's handler with the SDK's console chatter sent to stderr, so stdout holds only the
    result (JSON with --json). The SDK reads clearml.conf where CLEARML_CONFIG_FILE says, set here
    before it loads (settings.use_inventory_config) to the one `up` wrote next to the inventory."""
    if getattr(args, "inventory", None) is not None:
        from .datasets.settings import use_inventory_config

        use_inventory_config(args.inventory)
    with contextlib.redirect_stdout(sys.stderr):
        result, text = args.handler(args)
    clear_progress()
    print(json.dumps(result, indent=2) if args.json else text)
    return EXIT_OK


def _ingest(args) -> tuple[dict, str]:
    from .datasets.ingest import ingest

    result = ingest(args.source, args.project, args.name, wildcards=args.wildcard, recursive=not args.no_recursive,
                    root=args.dataset_path, tags=args.tag, output_uri=args.output_uri, progress=_say(args))
    from .datasets.selection import SourceObjects

    state = "new version" if result.created else "unchanged, no new version"
    left_out = SourceObjects({}, result.left_out).left_out_text()
    return vars(result), (f"dataset {result.dataset_id}: {result.files} files ({state}; +{result.added} "
                          f"-{result.removed})" + (f"\n{left_out}" if left_out else ""))


def _subset(args) -> tuple[dict, str]:
    from .datasets.subset import subset

    result = subset(_selection(args), args.name, parent_id=args.parent_id, parent_project=args.parent_project,
                    parent_name=args.parent_name, project=args.project, tags=args.tag)
    state = "created" if result.created else "already existed"
    return vars(result), f"dataset {result.dataset_id}: {result.files} files from parent {result.parent_id} ({state})"


def run_spec(args) -> tuple[dict, str]:
    from .datasets.pipeline import run_pipeline
    from .datasets.spec import DEFAULT_SPEC, load_spec

    steps = load_spec(args.spec or DEFAULT_SPEC, args.s3_endpoint)
    results = run_pipeline(steps, progress=_say(args))
    lines = [f"{r['step']:6} {r['project']}/{r['name']}: {r['dataset_id']} ({r['files']} files, "
             f"{'new' if r['created'] else 'unchanged'})" for r in results]
    return {"results": results}, "\n".join(lines)


def _demo(args) -> tuple[dict, str]:
    from .datasets.demo import put_demo_images

    keys = put_demo_images(args.target, args.count)
    return {"keys": keys}, f"put {len(keys)} PNG files under {args.target}"


def _dataset(args):
    from .datasets import sdk
    from .datasets.subset import resolve_parent

    sdk.login()
    return resolve_parent(args.id, args.project, args.name)


def _list(args) -> tuple[dict, str]:
    from clearml import Dataset

    from .datasets import sdk

    sdk.login()
    rows = sorted(Dataset.list_datasets(dataset_project=args.project, only_completed=True),
                  key=lambda d: str(d.get("created") or ""), reverse=True)
    # The SDK's rows hold a datetime and a status enum, which JSON cannot hold as they are.
    rows = [{k: (str(v) if k in ("created", "status") else v) for k, v in row.items()} for row in rows]
    return ({"datasets": rows}, "\n".join(f"{r['id']}  {r['project']}/{r['name']}  v{r.get('version')}  "
                                               f"{r.get('created')}" for r in rows) or "no datasets")


def _show(args) -> tuple[dict, str]:
    dataset = _dataset(args)
    files = sorted(dataset.list_files())
    info = {"id": dataset.id, "project": dataset.project, "name": dataset.name, "version": dataset.version,
            "parents": dataset.get_dependency_graph().get(dataset.id, []), "files": len(files),
            "first_files": files[:20]}
    return (info, "\n".join(f"{k}: {v}" for k, v in info.items()))


def _get(args) -> tuple[dict, str]:
    from .datasets.local_copy import get_copy

    dataset = _dataset(args)
    selecting = any(getattr(args, k) is not None for k in ("wildcard", "prefix", "max_count", "sample", "fraction",
                                                           "from_file"))
    folder = get_copy(dataset, args.to, _selection(args) if selecting else None, progress=_say(args))
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    return ({"id": dataset.id, "folder": str(folder), "files": count}, f"{count} files in {folder}")
