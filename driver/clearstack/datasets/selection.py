"""Choosing the files of a subset: pure functions over dataset paths, so unit tests need no server."""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Iterable
from dataclasses import dataclass


class SelectionError(ValueError):
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
        # A pattern without '/' matches the file name; with '/' it matches the whole path.
        pattern = selection.wildcard
        chosen = [p for p in chosen if fnmatch.fnmatchcase(p if "/" in pattern else p.rsplit("/", 1)[-1], pattern)]
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
