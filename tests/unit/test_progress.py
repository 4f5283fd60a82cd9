"""The live per-host progress: one line per host on a terminal, nothing when output is not one."""

from __future__ import annotations

import io

from clearstack.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_host_with_counts_and_current_task():
    out = Terminal()
    progress = Progress(out)
    progress("vm2", "Install Docker", "start")
    progress("vm1", "Check ports", "ok")
    progress("vm2", "Install Docker", "changed")
    progress("vm1", "Check RAM", "failed")
    assert progress.lines() == ["vm1: ok=1 changed=0 failed=1  Check RAM",
                                "vm2: ok=1 changed=1 failed=0  Install Docker"]
    assert out.getvalue().endswith("\x1b[Kvm1: ok=1 changed=0 failed=1  Check RAM\n"
                                   "\x1b[Kvm2: ok=1 changed=1 failed=0  Install Docker\n")
    progress.done()
    assert out.getvalue().endswith("\x1b[2F\x1b[J")


def test_silent_when_not_a_terminal():
    out = io.StringIO()
    progress = Progress(out)
    progress("vm1", "Check ports", "ok")
    progress.done()
    assert out.getvalue() == ""
