"""One run at a time per inventory: an flock on <inventory dir>/.clearstack/run.lock.

The lock lives on the open file, not on a process: the driver lends its descriptor to the playbook's
guard (playbook_guard.py), and ansible-playbook and its forks inherit it, so the lock stays held while
any of them lives, even after the driver was killed. The kernel drops it when the last one ends, so a
lock file left by a dead run never blocks. Its content only names the holders for the refusal message:
one "<pid> <what>" line each.

Shared and exclusive: `up`, `check` and `down` take it exclusively, so they exclude each other and the
read-only verbs. `verify` and `status` share it among themselves (two reports at once are harmless),
but never run beside a change: they would report a half-applied state as a fault.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ClearstackError
from .secrets import STORE_DIR

LOCK_FILE = "run.lock"
# Where the guard asks for the lock's descriptor: an abstract unix socket (no file, so no path length
# limit), written with "@" in place of its leading NUL, which an environment variable cannot hold.
SOCKET_ENV = "CLEARSTACK_LOCK_SOCKET"
# Shared holders only append; the one that finds the file this big keeps the live lines. (A prune that
# races another reader's start can drop that reader's line: a refusal then names one holder fewer.)
_PRUNE_AT = 16 * 1024


class RunLockError(ClearstackError, RuntimeError):
    """Another run holds the inventory; the message names it and says what to do."""


@dataclass
class RunLock:
    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # the kernel keeps the lock while a lent copy of the fd lives
            self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(inventory: Path) -> Path:
    base = inventory if inventory.is_dir() else inventory.parent
    return base / STORE_DIR / LOCK_FILE


def acquire(inventory: Path, what: str, *, shared: bool = False) -> RunLock:
    """Take the inventory's lock at once or raise RunLockError naming who holds it; never waits."""
    path = lock_path(inventory)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise RunLockError(f"cannot open the run lock {path}: {err.strerror}") from err
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holders = _holders(fd)
        os.close(fd)
        raise RunLockError(_refusal(inventory, path, holders)) from None
    if not shared:
        os.ftruncate(fd, 0)  # the lines of earlier holders, all gone now
    elif os.fstat(fd).st_size > _PRUNE_AT:
        _rewrite(fd, [f"{pid} {label}\n" for pid, label in _holders(fd)])
    note(fd, what)
    return RunLock(path, fd)


def note(fd: int, what: str) -> None:
    """Add this process to the holders the lock file names (one O_APPEND write: never interleaved)."""
    os.write(fd, f"{os.getpid()} {what}\n".encode())


def _rewrite(fd: int, lines: list[str]) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, "".join(lines).encode())


def _holders(fd: int) -> list[tuple[int, str]]:
    """(pid, what) of the recorded holders still alive."""
    text = os.pread(fd, 1 << 20, 0).decode(errors="replace")
    found = []
    for line in text.splitlines():
        pid, _, what = line.partition(" ")
        if pid.isdigit() and _alive(int(pid)):
            found.append((int(pid), what))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _refusal(inventory: Path, path: Path, holders: list[tuple[int, str]]) -> str:
    if not holders:  # e.g. the forks of a run whose driver and guard were both killed, still ending
        return (f"another run still holds {path} (the processes it recorded are gone; `fuser -v {path}` "
                "lists who has it open). Nothing was done; try again once it has ended.")
    named = "; ".join(f"{what} (pid {pid})" for pid, what in holders)
    return (f"another run is using inventory {inventory}: {named}, holding {path}. Nothing was done; wait "
            f"for it to end, or stop it with `kill {holders[0][0]}` (its playbook stops with it).")


# ---- lending the descriptor to the guard --------------------------------------------------------------
# ansible-runner starts the playbook through pexpect, which closes every descriptor but 0-2 in the
# child, so the fd cannot simply be inherited: the guard fetches a copy over a unix socket (SCM_RIGHTS).
# A copy shares the open file, hence the lock. Linux only (abstract sockets, SO_PEERCRED, /proc).

@dataclass
class Lender:
    address: str  # as SOCKET_ENV carries it
    borrower: int | None = None  # pid of the guard that took the fd


@contextlib.contextmanager
def lend(lock: RunLock) -> Iterator[Lender]:
    """Serve the lock's fd, once, to a child of this process of the same user, while the block runs."""
    name = f"clearstack-lock-{os.getpid()}-{os.urandom(8).hex()}"
    lender = Lender(address="@" + name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + name)
    server.listen(4)
    server.settimeout(0.2)  # lets the thread see `done` when nobody came
    done = threading.Event()
    thread = threading.Thread(target=_serve, args=(server, lock.fd, lender, done), daemon=True)
    thread.start()
    try:
        yield lender
    finally:
        done.set()
        thread.join(timeout=5)
        server.close()


def _serve(server: socket.socket, fd: int, lender: Lender, done: threading.Event) -> None:
    while not done.is_set() and lender.borrower is None:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        with conn:
            # Abstract sockets are open to every local user: only our own child gets the fd.
            pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
            if uid == os.getuid() and _parent_of(pid) == os.getpid():
                # Named before the send: the borrower may act on the fd before this thread runs again.
                lender.borrower = pid
                try:
                    socket.send_fds(conn, [b"L"], [fd])
                except OSError:
                    lender.borrower = None


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def borrow(address: str, timeout: float = 10) -> int:
    """The lent lock fd (in the guard); raises OSError when the lender is gone."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect("\0" + address.removeprefix("@"))
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    if not fds:
        raise OSError(f"the driver sent no lock descriptor over {address}")
    return fds[0]
