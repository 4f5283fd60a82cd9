"""Live per-host progress on a terminal, and the end-of-run summary."""

from __future__ import annotations

import sys
from typing import TextIO

from .runner import RunResult


class Progress:
    """One status line per event while stdout is a terminal; silent otherwise (logs, CI, pipes)."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, host: str, task: str, outcome: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\033[K{host}: {task} [{outcome}]")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def summary(result: RunResult) -> str:
    """Per host: counts, then the changed and failed task names, in the order they ran."""
    lines = []
    for host in sorted(result.hosts):
        h = result.hosts[host]
        lines.append(f"{host}: ok={h.ok} changed={h.changed} failed={h.failed} "
                     f"unreachable={h.unreachable} skipped={h.skipped}")
        lines += [f"  changed: {task}" for task in h.changed_tasks]
        lines += [f"  FAILED: {task}: {msg}" for task, msg in h.failed_tasks]
    return "\n".join(lines)
