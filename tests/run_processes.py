"""The processes of one clearstack run on this machine, found by a marker in their environment.

A test starts the driver with MARKER=<its own unique value>; every process of the run (the guard,
ansible-playbook, its forks, the modules' and ssh's processes, a ControlPersist master) inherits it.
So a test finds, and may kill, only processes it started: never by a name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

MARKER = "CLEARSTACK_TEST_RUN"

# Runs argv with SIGINT (and SIGQUIT) as a terminal's foreground job has them: a background job of a
# non-interactive shell (how CI may start the suite) ignores both, its children inherit that, and a
# Python started with SIGINT ignored never raises KeyboardInterrupt, so a test's Ctrl-C would be lost.
_TERMINAL_SIGNALS = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                     "signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])")


def as_in_a_terminal(argv: list[str]) -> list[str]:
    """argv run with the signal dispositions of a terminal's foreground job (same pid after the exec)."""
    return [sys.executable, "-c", _TERMINAL_SIGNALS, *argv]


def run_processes(marker: str) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the live (not zombie) processes whose environment carries MARKER=marker."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in (e for e in os.listdir("/proc") if e.isdigit()):
        try:
            if needle not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if state not in "ZX":
            found.append((int(entry), argv))
    return found


def left_after(marker: str, timeout_s: float) -> list[tuple[int, list[str]]]:
    """The run's processes still alive after up to timeout_s ([] as soon as none is)."""
    deadline = time.monotonic() + timeout_s
    while (left := run_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_left(marker: str) -> None:
    """SIGKILL what is left of the run (cleanup after a failed test)."""
    for pid, _ in run_processes(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
