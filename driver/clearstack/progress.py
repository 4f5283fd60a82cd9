"""Live per-host progress on a terminal, and the end-of-run summary."""

from __future__ import annotations

import sys
from typing import TextIO

from .runner import RunResult


class Progress:
    """While stdout is a terminal: one live line per host (current task, ok/changed/failed so far),
    redrawn in place on each event. Silent otherwise (logs, CI, pipes)."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.enabled = stream.isatty()
        self.hosts: dict[str, dict] = {}
        self.drawn = 0

    def __call__(self, host: str, task: str, outcome: str) -> None:
        state = self.hosts.setdefault(host, {"task": "", "ok": 0, "changed": 0, "failed": 0})
        state["task"] = task
        # Counted as Ansible's recap counts them: a changed task is also ok.
        if outcome in ("ok", "changed"):
            state["ok"] += 1
        if outcome == "changed":
            state["changed"] += 1
        if outcome in ("failed", "unreachable"):
            state["failed"] += 1
        if self.enabled:
            self._draw()

    def lines(self) -> list[str]:
        return [f"{host}: ok={s['ok']} changed={s['changed']} failed={s['failed']}  {s['task']}"
                for host, s in sorted(self.hosts.items())]

    def _draw(self) -> None:
        up = f"\033[{self.drawn}F" if self.drawn else ""
        self.stream.write(up + "".join(f"\033[K{line}\n" for line in self.lines()))
        self.stream.flush()
        self.drawn = len(self.hosts)

    def done(self) -> None:
        if self.enabled and self.drawn:
            self.stream.write(f"\033[{self.drawn}F\033[J")
            self.stream.flush()
        self.drawn = 0


def summary(result: RunResult) -> str:
    """Per host: counts, then the changed and failed task names, in the order they ran."""
    lines = []
    for host in sorted(result.hosts):
        h = result.hosts[host]
        lines.append(f"{host}: ok={h.ok} changed={h.changed} failed={h.failed} "
                     f"unreachable={h.unreachable} skipped={h.skipped}")
        lines += [f"  changed: {task}" for task in h.changed_tasks]
        lines += [f"  FAILED: {task}: {msg}" for task, msg in h.failed_tasks]
    if result.stopped_by_preflight:
        lines.append("Preflight refused the run, so nothing after it ran on any host (hosts without a failure "
                     "were stopped too, and nothing was changed by a later layer). Fix what is named above, "
                     "then run the command again.")
    return "\n".join(lines)
