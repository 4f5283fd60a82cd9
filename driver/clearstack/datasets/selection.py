"""Choosing the files of a subset: pure functions over dataset paths, so unit tests need no server."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ClearstackError

# How clearstack matches a wildcard (ingest's --wildcard and the selection's), said once for every --help.
MATCHING_HELP = ("A pattern without '/' matches the file name at any depth ('*.png'); one with '/' matches the "
                 "whole path ('cam0/*.png'). '*' matches any characters, '/' included; '?' one character; "
                 "'[abc]' one of a set; '**/' any number of folders, none included ('**/*.png' also matches "
                 "'a.png', 'raw/**/x.png' also matches 'raw/x.png').")


class SelectionError(ClearstackError, ValueError):
    """A selection that cannot be satisfied; the message names what is wrong."""


@dataclass(frozen=True)
class Selection:
    """What to keep from a parent dataset. Filters apply in this order: listing, prefix, wildcard,
    then one of max_count / sample / fraction."""

    wildcard: str | None = None
    prefix: str | None = None
    max_count: int | None = None
    sample: int | None = None
    fraction: float | None = None
    seed: int | None = None
    listing: tuple[str, ...] | None = None

    def validate(self) -> None:
        sizers = [name for name in ("max_count", "sample", "fraction") if getattr(self, name) is not None]
        if len(sizers) > 1:
            raise SelectionError(f"choose one of max_count, sample, fraction (got {', '.join(sizers)})")
        for name in ("max_count", "sample"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SelectionError(f"{name} must be at least 1 (got {value})")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise SelectionError(f"fraction must be in (0, 1] (got {self.fraction})")
        if self.sample is not None and self.seed is None:
            raise SelectionError("a random sample needs a seed, so the same selection gives the same subset")
        if not any(getattr(self, n) is not None for n in ("wildcard", "prefix", "max_count", "sample", "fraction", "listing")):
            raise SelectionError("empty selection: give a wildcard, prefix, max count, sample, fraction or listing")


def _class_end(pattern: str, start: int) -> int:
    """Where the `[...]` opened at start closes (fnmatch's rule: a first ']' or '!]' is literal); -1 if never."""
    i = start + 1
    if pattern[i:i + 1] == "!":
        i += 1
    if pattern[i:i + 1] == "]":
        i += 1
    return pattern.find("]", i)


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """fnmatch's rules, plus `**/` (at the start or after a '/') for zero or more folders, which fnmatch
    (and so the ClearML SDK's matches_any_wildcard) reads as `*/`, a folder that must be there."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
            continue
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # Each character literal except '-' (ranges stay ranges).
            out.append("[" + ("^" if negate else "") + "".join(c if c == "-" else re.escape(c) for c in body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def path_matches(path: str, pattern: str) -> bool:
    """Whether a relative path matches a wildcard, as MATCHING_HELP says."""
    pattern = pattern.strip()
    if "/" in pattern:
        return _pattern_regex(pattern.lstrip("/")).fullmatch(path.lstrip("/")) is not None
    return _pattern_regex(pattern).fullmatch(path.rsplit("/", 1)[-1]) is not None


def matches_any(path: str, patterns: Iterable[str] | None) -> bool:
    """No patterns: every path."""
    patterns = list(patterns or [])
    return not patterns or any(path_matches(path, p) for p in patterns)


def _normalise(path: str) -> str:
    return path.strip().lstrip("/")


def select(paths: Iterable[str], selection: Selection) -> list[str]:
    """The sorted dataset paths a subset keeps. Raises SelectionError when it cannot be met exactly."""
    selection.validate()
    chosen = sorted({_normalise(p) for p in paths})
    if selection.listing is not None:
        wanted = {_normalise(p) for p in selection.listing if p.strip()}
        absent = sorted(wanted - set(chosen))
        if absent:
            shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise SelectionError(f"{len(absent)} path(s) of the listing are not in the parent dataset: {shown}")
        chosen = sorted(wanted)
    if selection.prefix:
        prefix = _normalise(selection.prefix)
        chosen = [p for p in chosen if p.startswith(prefix)]
    if selection.wildcard:
        chosen = [p for p in chosen if path_matches(p, selection.wildcard)]
    if selection.max_count is not None:
        chosen = chosen[: selection.max_count]
    elif selection.sample is not None:
        if selection.sample > len(chosen):
            raise SelectionError(f"a sample of {selection.sample} files was asked, but only {len(chosen)} file(s) of the "
                                 f"parent match; ask for at most {len(chosen)}")
        chosen = sorted(random.Random(selection.seed).sample(chosen, selection.sample))
    elif selection.fraction is not None:
        count = max(1, round(len(chosen) * selection.fraction)) if chosen else 0
        chosen = sorted(random.Random(selection.seed if selection.seed is not None else 0).sample(chosen, count))
    if not chosen:
        raise SelectionError("the selection matches no file of the parent dataset")
    return chosen


# ---- choosing the objects of an ingest source -----------------------------------------------------------

# Where ClearML keeps a dataset's own outputs under any storage root (clearml 2.1.12, as installed):
# datasets/dataset.py (_build_hidden_project_name, Task.create) puts a dataset's task in project
# "<project>/.datasets/<name>" with task name "<name>"; backend_interface/task/task.py
# (_get_output_destination_suffix) writes under "<project>/<task name>.<task id>/" + "artifacts" (state
# and file zips: binding/artifacts.py, metric "artifacts"), "metrics" (preview images:
# backend_interface/metrics/events.py, "<title>/<series>/<file>") or "models". Task ids are 32 hex digits.
_DATASET_OUTPUT = re.compile(r"(?:^|/)\.datasets/(?:[^/]+/)+[^/]*\.[0-9a-f]{32}/(?:artifacts|metrics|models)/")
# storage/helper.py (check_write_permissions): "<output uri>/.clearml.<uuid4>.test", deleted again at once.
_WRITE_CHECK = re.compile(r"(?:^|/)\.clearml\.[0-9a-f-]{36}\.test$")

LEFT_OUT_DATASET_OUTPUTS = "ClearML dataset outputs (state, file zips, previews)"
LEFT_OUT_WRITE_CHECKS = "ClearML write-check files"
LEFT_OUT_OUTPUT_URI = "under this ingest's --output-uri"


def clearml_output(key: str) -> str | None:
    """Why an object key is ClearML's own output, whichever dataset wrote it; None for anything else."""
    if _DATASET_OUTPUT.search(key):
        return LEFT_OUT_DATASET_OUTPUTS
    if _WRITE_CHECK.search(key):
        return LEFT_OUT_WRITE_CHECKS
    return None


def output_prefix(output_uri: str | None, endpoint: str, bucket: str) -> str | None:
    """The key prefix ClearML writes under for an output URI in this bucket ("" for the bucket root),
    or None when the URI is elsewhere (or not given)."""
    if not output_uri:
        return None
    out = output_uri.strip().rstrip("/") + "/"
    root = f"s3://{endpoint}/{bucket}/"
    if out == root:
        return ""
    return out.removeprefix(root) if out.startswith(root) else None


@dataclass
class SourceObjects:
    """What a listing of an ingest source keeps: key -> size, and per reason how many objects that
    match the wildcards were left out."""

    kept: dict[str, int]
    left_out: dict[str, int]

    def left_out_text(self) -> str:
        """e.g. "3 objects left out: 2 ClearML dataset outputs (...), 1 under this ingest's --output-uri"."""
        total = sum(self.left_out.values())
        if not total:
            return ""
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.left_out.items()))
        return f"{total} matching object{'s' if total != 1 else ''} left out: {parts}"


def choose_objects(objects: Iterable[tuple[str, int]], prefix: str, wildcards: list[str] | None,
                   recursive: bool = True, output_prefix: str | None = None) -> SourceObjects:
    """The objects of a source listing (key, size) an ingest registers: those under prefix that match a
    wildcard (relative to the prefix, as MATCHING_HELP says), without folder markers and without ClearML's
    own outputs: any dataset's (clearml_output), and everything under a non-root output prefix."""
    kept: dict[str, int] = {}
    left_out: dict[str, int] = {}
    for key, size in objects:
        if key.endswith("/") or not key.startswith(prefix):
            continue
        relative = key[len(prefix):]
        if not recursive and "/" in relative:
            continue
        if not matches_any(relative, wildcards):
            continue
        reason = clearml_output(key)
        if reason is None and output_prefix and key.startswith(output_prefix):
            reason = LEFT_OUT_OUTPUT_URI
        if reason:
            left_out[reason] = left_out.get(reason, 0) + 1
        else:
            kept[key] = int(size)
    return SourceObjects(kept, left_out)
