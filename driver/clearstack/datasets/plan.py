"""What an ingest must do to a dataset so it mirrors a listing: pure, so unit tests need no server."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """One file of a dataset (or one listed object): where its bytes are, and how many."""

    link: str
    size: int


@dataclass
class IngestPlan:
    add: dict[str, Entry] = field(default_factory=dict)  # dataset path -> object
    remove: list[str] = field(default_factory=list)  # dataset paths

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def dataset_path(key: str, prefix: str, root: str) -> str:
    """Where object `key`, listed under `prefix`, lands in a dataset rooted at `root` (e.g. /imagens)."""
    relative = key[len(prefix):] if prefix and key.startswith(prefix) else key
    return posixpath.normpath(posixpath.join(root.strip("/"), relative))


def plan_ingest(current: Mapping[str, Entry], listed: Mapping[str, Entry]) -> IngestPlan:
    """Adds for new or changed objects (other link or size), removes for objects gone from the listing."""
    plan = IngestPlan()
    for path, entry in sorted(listed.items()):
        if current.get(path) != entry:
            plan.add[path] = entry
    plan.remove = sorted(path for path in current if path not in listed)
    # A changed object is re-added; its old entry goes first so the path holds one file.
    plan.remove += sorted(path for path in plan.add if path in current)
    return plan
