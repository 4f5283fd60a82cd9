"""The per-inventory run lock: a second holder is refused at once, naming the first; a dead holder
never blocks; read-only runs share it; the CLI refuses in one line. Real processes hold it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearstack import cli, runlock

HOLDER = """
import sys, time
from pathlib import Path
from clearstack import runlock
lock = runlock.acquire(Path(sys.argv[1]), "the holder test", shared=sys.argv[2] == "shared")
print("held", flush=True)
time.sleep(120)
"""

BORROWER = """
import sys, time
from clearstack import runlock
fd = runlock.borrow(sys.argv[1], timeout=5)
print("borrowed", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def holder(inventory: Path, mode: str = "exclusive") -> Iterator[subprocess.Popen]:
    """Another process holding the inventory's lock; killed (SIGKILL) at the end of the block."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(inventory), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "held\n"  # '' if it died first
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_second_holder_is_refused_at_once_naming_the_pid_that_holds_it(tmp_path):
    with holder(tmp_path) as proc:
        started = time.monotonic()
        with pytest.raises(runlock.RunLockError) as refused:
            runlock.acquire(tmp_path, "clearstack up")
        assert time.monotonic() - started < 1  # never waits
    message = str(refused.value)
    assert f"the holder test (pid {proc.pid})" in message and f"kill {proc.pid}" in message
    assert str(runlock.lock_path(tmp_path)) in message and "\n" not in message


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    with holder(tmp_path) as proc:
        proc.kill()
        proc.wait(timeout=30)
        with runlock.acquire(tmp_path, "the next run"):
            assert runlock.lock_path(tmp_path).read_text().splitlines() == [f"{os.getpid()} the next run"]


def test_a_stale_lock_file_from_a_dead_pid_does_not_block(tmp_path):
    path = runlock.lock_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_text(f"{_dead_pid()} clearstack up\n{_dead_pid()} the playbook of pid 1\n")
    with runlock.acquire(tmp_path, "clearstack up") as lock:
        assert lock.path == path
        assert len(path.read_text().splitlines()) == 1  # only this holder is named now


def test_the_lock_file_is_private_and_kept_with_the_secrets(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    with runlock.acquire(inventory, "clearstack up") as lock:
        assert lock.path == tmp_path / ".clearstack" / "run.lock"
        assert lock.path.stat().st_mode & 0o777 == 0o600
        assert lock.path.parent.stat().st_mode & 0o777 == 0o700


def test_read_only_runs_share_the_lock_and_changes_exclude_them(tmp_path):
    with holder(tmp_path, "shared") as reader:
        with runlock.acquire(tmp_path, "clearstack status", shared=True):
            with pytest.raises(runlock.RunLockError) as refused:
                runlock.acquire(tmp_path, "clearstack up")
            assert f"the holder test (pid {reader.pid})" in str(refused.value)
            assert "clearstack status (pid" in str(refused.value)  # every live holder is named
    with holder(tmp_path) as writer:
        with pytest.raises(runlock.RunLockError, match=f"pid {writer.pid}"):
            runlock.acquire(tmp_path, "clearstack verify", shared=True)


def test_a_lent_descriptor_keeps_the_lock_held_after_the_lender_let_go(tmp_path):
    """What keeps a killed driver's playbook under the lock: a copy of the fd holds the same lock."""
    lock = runlock.acquire(tmp_path, "the lender")
    with runlock.lend(lock) as lender:
        child = subprocess.Popen([sys.executable, "-c", BORROWER, lender.address], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline() == "borrowed\n"
            assert lender.borrower == child.pid
            lock.release()
            with pytest.raises(runlock.RunLockError):
                runlock.acquire(tmp_path, "a second run")
        finally:
            child.kill()
            child.wait(timeout=30)
    runlock.acquire(tmp_path, "a second run").release()


def test_only_a_child_of_the_lender_gets_the_descriptor(tmp_path):
    with runlock.acquire(tmp_path, "the lender") as lock, runlock.lend(lock) as lender:
        # A grandchild (its parent is the shell) stands for any other process of this user.
        proc = subprocess.run(["sh", "-c", '"$0" -c "$1" "$2"; exit $?', sys.executable, BORROWER, lender.address],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "borrowed" not in proc.stdout
    assert lender.borrower is None


@pytest.mark.parametrize("verb", ["up", "check", "down", "verify", "status"])
def test_every_playbook_verb_is_refused_in_one_line_while_another_run_holds_the_inventory(verb, tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.setattr(cli, "run_playbook", lambda *a, **k: pytest.fail("no run may start"))
    with holder(tmp_path) as proc:
        assert cli.main([verb, "-i", str(tmp_path)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"clearstack {verb}: another run is using inventory {tmp_path}")
    assert f"pid {proc.pid}" in err and "Traceback" not in err
    assert not (tmp_path / ".clearstack" / "secrets.yml").exists()  # refused before any secret was made
