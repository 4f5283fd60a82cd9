"""Why the ClearML data tree could not be set up: which directories sit on a read-only mount."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# findmnt --output TARGET,OPTIONS: "/opt ro,relatime" or "/ rw,relatime,ro"; `ro` as one option.
_READ_ONLY = re.compile(r"[ ,]ro(,|$)")


def read_only_sentences(mounts: Iterable[Mapping]) -> list[str]:
    """One sentence per directory on a read-only file system, from the registered findmnt loop results
    (item = the directory, stdout = "TARGET OPTIONS")."""
    return [f"{r['item']} is on a read-only file system (mounted at {r['stdout'].split()[0]})."
            for r in mounts if _READ_ONLY.search(r.get("stdout", ""))]


class FilterModule:
    def filters(self):
        return {"clearml_dirs_read_only_sentences": read_only_sentences}
