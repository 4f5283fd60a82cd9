"""Pipeline specs: a YAML list of ingests and subsets that `clearstack run SPEC` applies in order.

The whole spec is validated before the first step runs, so a typo in the last subset never leaves
the first ingest done and the rest not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ClearstackError
from .selection import Selection
from .source import parse_s3_url

DEFAULT_SPEC = Path(__file__).with_name("runbook_pipeline.yml")
_INGEST_KEYS = {"source", "project", "name", "wildcards", "recursive", "dataset_path", "tags", "output_uri"}
_SUBSET_KEYS = {"name", "project", "parent", "select", "tags"}
_SELECT_KEYS = {"wildcard", "prefix", "max_count", "sample", "fraction", "seed", "from_file"}


class SpecError(ClearstackError, ValueError):
    """A spec that cannot be run; the message names the step and the field."""


@dataclass
class IngestStep:
    source: str
    project: str
    name: str
    wildcards: list[str] | None = None
    recursive: bool = True
    dataset_path: str = "/"
    tags: list[str] = field(default_factory=list)
    output_uri: str | None = None


@dataclass
class SubsetStep:
    name: str
    parent_project: str
    parent_name: str
    selection: Selection
    project: str | None = None
    tags: list[str] = field(default_factory=list)


def _check_keys(where: str, mapping: object, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(mapping, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(mapping))
    if missing:
        raise SpecError(f"{where}: missing field(s) {', '.join(missing)}")
    return mapping


def _with_endpoint(source: str, endpoint: str | None) -> str:
    if not endpoint:
        return source
    parsed = parse_s3_url(source)
    return f"s3://{endpoint}/{parsed.bucket}/{parsed.prefix}"


def load_spec(path: Path, s3_endpoint: str | None = None) -> list[IngestStep | SubsetStep]:
    """Parse and validate a spec; s3_endpoint (host:port) replaces the endpoint of every source."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"cannot read pipeline spec {path}: {err}") from err
    data = _check_keys(str(path), data or {}, {"ingest", "subsets"}, set())
    steps: list[IngestStep | SubsetStep] = []
    for i, raw in enumerate(data.get("ingest") or []):
        where = f"{path}: ingest[{i}]"
        raw = _check_keys(where, raw, _INGEST_KEYS, {"source", "project", "name"})
        try:
            source = _with_endpoint(str(raw["source"]), s3_endpoint)
            parse_s3_url(source)
        except ValueError as err:
            raise SpecError(f"{where}.source: {err}") from err
        wildcards = raw.get("wildcards")
        if wildcards is not None and (not isinstance(wildcards, list) or not all(isinstance(w, str) for w in wildcards)):
            raise SpecError(f"{where}.wildcards: expected a list of patterns, e.g. ['*.png']")
        steps.append(IngestStep(source=source, project=str(raw["project"]), name=str(raw["name"]), wildcards=wildcards,
                                recursive=bool(raw.get("recursive", True)), dataset_path=str(raw.get("dataset_path", "/")),
                                tags=list(raw.get("tags") or []), output_uri=raw.get("output_uri")))
    for i, raw in enumerate(data.get("subsets") or []):
        where = f"{path}: subsets[{i}]"
        raw = _check_keys(where, raw, _SUBSET_KEYS, {"name", "parent", "select"})
        parent = _check_keys(f"{where}.parent", raw["parent"], {"project", "name"}, {"project", "name"})
        select = dict(_check_keys(f"{where}.select", raw["select"], _SELECT_KEYS, set()))
        listing = None
        if "from_file" in select:
            listing_path = (path.parent / str(select.pop("from_file"))).resolve()
            if not listing_path.is_file():
                raise SpecError(f"{where}.select.from_file: {listing_path} does not exist")
            listing = tuple(listing_path.read_text().splitlines())
        try:
            selection = Selection(listing=listing, **select)
            selection.validate()
        except (TypeError, ValueError) as err:
            raise SpecError(f"{where}.select: {err}") from err
        steps.append(SubsetStep(name=str(raw["name"]), parent_project=str(parent["project"]),
                                parent_name=str(parent["name"]), selection=selection, project=raw.get("project"),
                                tags=list(raw.get("tags") or [])))
    if not steps:
        raise SpecError(f"{path}: no ingest or subsets steps")
    return steps
