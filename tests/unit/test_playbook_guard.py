"""A killed or stopped driver takes its playbook with it, and the inventory's run lock is held until the
last process of the run has ended. Real runs of a local playbook, no Docker: on each of two hosts a
module sleeps until the test ends the run. The processes of a run are the ones whose environment
carries the test's own marker (tests/run_processes.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from clearstack import runlock
from run_processes import MARKER, as_in_a_terminal, kill_left, run_processes

PLAYBOOK = Path(__file__).parent / "playbooks" / "sleep.yml"
UNDER_WAY_S = 180  # for both hosts' module to be sleeping; generous, the machine may be loaded
GONE_S = 30  # for every process of a killed driver's run to end
REFUSED_S = 60  # a second driver (Python and ansible-runner imported) refused; a waiting one would take 600 s

DRIVER = """
import sys
from pathlib import Path
from clearstack import playbook_guard
from clearstack.runlock import RunLockError
from clearstack.runner import run_playbook
try:
    with playbook_guard.stopping():
        run_playbook(sys.argv[1], Path(sys.argv[2]))
except RunLockError as err:
    sys.exit(f"refused: {err}")
except playbook_guard.Stopped as err:
    sys.exit(f"stopped by {err}")
except KeyboardInterrupt:
    sys.exit("stopped by SIGINT")
"""


@dataclass
class Run:
    proc: subprocess.Popen
    marker: str
    tmp: Path  # the driver's TMPDIR, where its private run dir goes
    stderr: Path

    def errors(self) -> str:
        return self.stderr.read_text()


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"one": {"ansible_connection": "local"},
                                                      "two": {"ansible_connection": "local"}}}}))
    return path


@contextlib.contextmanager
def started(inventory: Path, tmp_path: Path, name: str = "first") -> Iterator[Run]:
    """A driver (run_playbook of sleep.yml) in a process group of its own; whatever is left of its run is
    SIGKILLed at the end of the block (only processes with its marker: processes this test started)."""
    tmp = tmp_path / f"{name}-tmp"
    tmp.mkdir()
    run = Run(proc=None, marker=f"{name}-{uuid.uuid4().hex}", tmp=tmp, stderr=tmp_path / f"{name}.err")
    with run.stderr.open("w") as err:
        run.proc = subprocess.Popen(as_in_a_terminal([sys.executable, "-c", DRIVER, str(PLAYBOOK), str(inventory)]),
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                    # Ansible's temporary dirs too, which a killed run leaves behind.
                                    env={**os.environ, MARKER: run.marker, "TMPDIR": str(tmp),
                                         "ANSIBLE_LOCAL_TEMP": str(tmp / "local"), "ANSIBLE_REMOTE_TMP": str(tmp / "remote")})
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait(timeout=30)
        kill_left(run.marker)


def wait_under_way(run: Run) -> list[tuple[int, list[str]]]:
    deadline = time.monotonic() + UNDER_WAY_S
    while True:
        found = run_processes(run.marker)
        if [argv for _, argv in found].count(["sleep", "600"]) == 2:
            return found
        assert run.proc.poll() is None, f"the driver ended (rc {run.proc.returncode}): {run.errors()[-2000:]}"
        assert time.monotonic() < deadline, f"the playbook was not under way within {UNDER_WAY_S}s: {found}"
        time.sleep(0.5)


def test_a_sigkilled_drivers_playbook_ends_and_keeps_the_lock_until_it_has(inventory, tmp_path):
    with started(inventory, tmp_path) as run:
        found = wait_under_way(run)
        assert any(Path(arg).name == "ansible-playbook" for _, argv in found for arg in argv[:2]), found

        # A second run meanwhile is refused at once, naming the first driver.
        with started(inventory, tmp_path, "second") as second:
            assert second.proc.wait(timeout=REFUSED_S) != 0
            assert f"refused: another run is using inventory {inventory}: a run of sleep.yml (pid {run.proc.pid})" \
                   in second.errors()
            assert not run_processes(second.marker)  # it started nothing

        os.killpg(run.proc.pid, signal.SIGKILL)  # as the lab test and the OOM killer do: no chance to clean up
        run.proc.wait(timeout=30)
        deadline = time.monotonic() + GONE_S
        while True:
            left = run_processes(run.marker)
            try:
                lock = runlock.acquire(inventory, "the next run")
            except runlock.RunLockError as err:
                assert left, f"refused though no process of the run is left: {err}"
            else:
                lock.release()
                assert not run_processes(run.marker), "the lock was released before the run's last process ended"
                break
            assert time.monotonic() < deadline, f"still there {GONE_S}s after the driver was killed: {left}"
            time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_driver_told_to_stop_stops_its_playbook_before_it_exits(inventory, tmp_path, signum):
    with started(inventory, tmp_path) as run:
        wait_under_way(run)
        os.kill(run.proc.pid, signum)  # the driver alone, as `kill` or a closed terminal does
        assert run.proc.wait(timeout=60) != 0
        assert not run_processes(run.marker)  # already: the driver waited for its playbook to end
        assert f"stopped by {signal.Signals(signum).name}" in run.errors()
        assert not list(run.tmp.glob("clearstack-run-*"))  # its run dir (secrets file included) removed
    runlock.acquire(inventory, "the next run").release()
