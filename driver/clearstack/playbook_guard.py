"""The playbook never outlives its driver. Linux only (prctl, /proc): the controller is Linux.

ansible-runner starts ansible-playbook under a pty in a session of its own (pexpect), so neither a
signal to the driver's process group nor the driver's death reached it: a SIGKILLed or OOM-killed
`clearstack up` went on changing hosts unattended. runner.py starts this guard in its place
(`python -m clearstack.playbook_guard ansible-playbook ARGS...`), which
- has the kernel send it SIGTERM when the driver dies (PR_SET_PDEATHSIG): no cooperation from the
  driver needed, so SIGKILL and the OOM killer are covered (strictly: when the thread that forked it
  ends, the one waiting in ansible_runner.run);
- takes the run lock's fd from the driver (runlock.borrow) and passes it on to ansible-playbook and so
  to its forks: the lock is held while any of them lives;
- runs ansible-playbook as its child and passes SIGTERM, SIGINT and SIGHUP (the pty hung up: the driver
  is gone) on to it. ansible-playbook passes SIGTERM/SIGINT on to its forks, and each fork ends its own
  process group (the module's processes, ssh, docker exec);
- is a child subreaper, so what a run leaves detached (ssh's ControlPersist master daemonizes into a
  session of its own; the forks of a SIGKILLed ansible-playbook) is reparented to it. After a stop it
  ends every descendant left, and exits (releasing its copy of the lock) only then.
A playbook that ends by itself ends as before: its ControlPersist masters are ssh's connection cache,
shared with later runs, and end on their own (ControlPersist in ansible.cfg). They never hold the lock:
ssh, like every command Ansible runs, starts with its descriptors closed. (A SIGSTOP of the driver is
not passed on.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import runlock

DRIVER_ENV = "CLEARSTACK_DRIVER_PID"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 10  # for ansible-playbook to end after the signal, then SIGKILL
SWEEP_TERM_S = 5  # for what is left after SIGTERM, then SIGKILL
SWEEP_KILL_S = 5
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


class Stopped(BaseException):
    """The driver got SIGTERM or SIGHUP (a BaseException like KeyboardInterrupt: nothing on the way may
    swallow it). run_playbook stops the playbook before it goes on up."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped in the block (main thread only), so the driver stops its playbook,
    waits for it and removes its run dir instead of dying on the spot."""
    def raise_stopped(signum: int, frame: object) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop(guard: int | None, signum: int = signal.SIGTERM, timeout_s: float = 2 * (GRACE_S + SWEEP_TERM_S)) -> None:
    """In the driver, on its way out: stop the guard (and so the playbook) and wait until it has ended.
    Not reaped here: pexpect reaps its own child."""
    if guard is None or _ended(guard):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(guard, signum)
    deadline = time.monotonic() + timeout_s
    while not _ended(guard) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _ended(guard):  # cannot happen unless the guard hangs; its playbook gets SIGTERM from the kernel
        with contextlib.suppress(ProcessLookupError):
            os.kill(guard, signal.SIGKILL)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {value}): {os.strerror(err)} (clearstack's controller must be Linux)")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: [state, ppid, ...]; None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _ended(pid: int) -> bool:
    stat = _stat(pid)
    return stat is None or stat[0] in "ZX"


def _descendants(root: int) -> list[int]:
    """The live (not zombie) processes below root, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        stat = _stat(int(entry)) if entry.isdigit() else None
        if stat and stat[0] not in "ZX":
            children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        found += (kids := children.get(todo.pop(), []))
        todo += kids
    return found


def _reap() -> None:
    """Reap the ended children (reparented ones included): a zombie is not a process of the run."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _end_descendants() -> None:
    start = time.monotonic()
    asked: set[int] = set()
    while time.monotonic() - start < SWEEP_TERM_S + SWEEP_KILL_S:
        _reap()
        left = _descendants(os.getpid())
        if not left:
            return
        late = time.monotonic() - start > SWEEP_TERM_S
        for pid in left:
            if late or pid not in asked:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
                asked.add(pid)
        time.sleep(0.1)


def _start(argv: list[str]) -> int:
    """Fork and exec the playbook; the stop signals stay blocked until the caller has its handlers."""
    guard = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    child = os.fork()
    if child:
        return child
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the guard itself killed: the playbook still ends
        if os.getppid() == guard:
            for sig in (signal.SIGTERM, signal.SIGINT):  # even if ignored where the driver started: they are ours
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            os.execvp(argv[0], argv)
    except OSError as err:
        print(f"clearstack: cannot start {argv[0]}: {err}", file=sys.stderr)
    finally:
        os._exit(127)


def main(argv: list[str]) -> int:
    driver = int(os.environ.pop(DRIVER_ENV))
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != driver:  # the driver died before the line above tied this process to it
        return 1
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    address = os.environ.pop(runlock.SOCKET_ENV, None)
    if address:
        try:
            fd = runlock.borrow(address)
        except OSError as err:  # never run without the lock
            print(f"clearstack: cannot take over the run lock from pid {driver}: {err}", file=sys.stderr)
            return 1
        runlock.note(fd, f"the playbook of pid {driver}")
        os.set_inheritable(fd, True)  # ansible-playbook and its forks hold the lock too
    child = _start(argv)
    state = {"stopped": 0, "reaped": False}

    def stop_playbook(signum: int, frame: object) -> None:
        if state["stopped"] or state["reaped"]:
            return
        state["stopped"] = signum
        os.kill(child, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, GRACE_S)

    def kill_playbook(signum: int, frame: object) -> None:
        if not state["reaped"]:
            os.kill(child, signal.SIGKILL)

    signal.signal(signal.SIGALRM, kill_playbook)
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop_playbook)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    while True:  # reaps what gets reparented here too, until the playbook itself ends
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            state["reaped"] = True
            break
    signal.setitimer(signal.ITIMER_REAL, 0)
    code = os.waitstatus_to_exitcode(status)
    if state["stopped"] or code < 0:
        _end_descendants()
    if code < 0:  # end the way the playbook did, as ansible-runner saw it end before
        if -code != signal.SIGKILL:
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
