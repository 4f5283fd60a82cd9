"""The real MinIO server for the tests: the one release they run (named here and nowhere else), where
its binary is, and one node with four drives started on loopback.

The binary is built from MinIO's Go module by the product's own code (clearstack.images.minio_build,
`ensure_binary`) and cached at <cache>/minio/<release>/minio ($CLEARSTACK_CACHE_DIR, default
/var/cache/clearstack). tests/images/build-minio.sh builds it (scripts/test.sh runs it before pytest);
the tests only look it up, and fail naming that script when it is not there.

RELEASE is 2025-09-07, not the product's default 2025-10-15: the Go module proxy refuses the latter on
the project's machines (docs/minio.md). It lacks the CVE-2025-62506 fix (an IAM sub-policy check),
which these tests, with root credentials only, do not touch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from clearstack.images import minio_build, releases

RELEASE = "RELEASE.2025-09-07T16-13-09Z"
BUILD_SCRIPT = "tests/images/build-minio.sh"
DRIVES = 4
WRITE_QUORUM = "3"  # one node, four drives: one erasure set, EC:2, so writes need 3 drives
START_TIMEOUT_S = 90  # about 5 s on an idle 2-core VM; the CI machine may be busy with other tests
POLL_S = 0.2
START_ATTEMPTS = 3  # a port taken between picking it and MinIO binding it: pick others, start again
STOP_TIMEOUT_S = 20


class MinioUnavailable(RuntimeError):
    """The binary is not built, or the node would not start."""


def binary() -> Path:
    """The cached binary of RELEASE, checked against its build.json (size and sha256) as the build does."""
    release = releases.by_tag(RELEASE)
    cache = minio_build.cache_dir()
    path = minio_build.binary_path(release, cache)
    if minio_build.cached_binary(release, cache) is None:
        why = "not built" if not path.exists() else "not what its build.json says (another recipe, or damaged)"
        raise MinioUnavailable(f"the MinIO server binary of {RELEASE} at {path} is {why}: run {BUILD_SCRIPT} "
                               f"(scripts/test.sh does, before pytest; it compiles MinIO with Go once, then "
                               f"reuses it from {minio_build.CACHE_ENV}={cache})")
    return path


def binary_or_fail() -> Path:
    """binary(), or fail the calling test with its message (no traceback): the suite needs MinIO built."""
    import pytest

    try:
        return binary()
    except MinioUnavailable as err:
        missing = str(err)
    pytest.fail(missing, pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(port: int, probe: str = "cluster") -> tuple[int, dict]:
    """(HTTP status, headers) of /minio/health/<probe> (no auth); status 0 if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/minio/health/{probe}", timeout=2) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)
    except OSError:
        return 0, {}


class MinioNode:
    """`minio server` of RELEASE on 127.0.0.1 (S3 API and console on free ports), drives root/data1..4,
    the root credentials in its environment (test-only values). start() returns once the node has write
    quorum; stop() ends it by its PID. Its output goes to root/minio.log."""

    def __init__(self, root: Path, user: str, password: str):
        self.root, self.user, self.password = root, user, password
        self.log_path = root / "minio.log"
        self.port = self.console_port = 0
        self.process: subprocess.Popen | None = None
        for i in range(1, DRIVES + 1):
            (root / f"data{i}").mkdir(parents=True, exist_ok=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        # A clean environment: no MINIO_* (MINIO_VOLUMES, MINIO_ROOT_*_FILE ...) of whoever runs the tests.
        # MINIO_CI_CD=1 is upstream's switch for test and CI setups (cmd/common-main.go): without it MinIO
        # refuses drives that share the root file system ("drive is part of root drive", reported as
        # "drive not found", cmd/xl-storage.go getDiskInfo), which every temporary directory here does; it
        # also caps MinIO's buffer pool at 256 MiB (cmd/erasure-server-pool.go) instead of half the RAM.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LANG": "C.UTF-8",
                "MINIO_ROOT_USER": self.user, "MINIO_ROOT_PASSWORD": self.password, "MINIO_CI_CD": "1"}

    def start(self) -> MinioNode:
        path = binary()
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port, self.console_port = free_port(), free_port()
            with self.log_path.open("a") as log:
                log.write(f"--- start {attempt}: S3 on 127.0.0.1:{self.port}, console on 127.0.0.1:{self.console_port}\n")
                log.flush()
                self.process = subprocess.Popen(
                    [str(path), "server", "--address", f"127.0.0.1:{self.port}",
                     "--console-address", f"127.0.0.1:{self.console_port}", f"{self.root}/data{{1...{DRIVES}}}"],
                    cwd=self.root, env=self.environment(), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            if self.wait_healthy():
                return self
            if self.process.poll() is None or "port is already in use" not in self.log_path.read_text():
                break
        self.stop()
        raise MinioUnavailable(f"MinIO {RELEASE} did not reach write quorum ({WRITE_QUORUM} drives) on "
                               f"{self.endpoint} within {START_TIMEOUT_S} s; its log:\n{self.log_tail()}")

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Bounded in time and in probes: True once /minio/health/cluster answers 200 with the write quorum of
        four drives in one erasure set; False if the process ends or the time runs out first."""
        deadline = time.monotonic() + timeout_s
        for _ in range(int(timeout_s / POLL_S) + 1):
            status, headers = health(self.port)
            if status == 200:
                quorum = headers.get("X-Minio-Write-Quorum")
                if quorum != WRITE_QUORUM:
                    raise MinioUnavailable(f"MinIO on {self.endpoint} reports write quorum {quorum}, not "
                                           f"{WRITE_QUORUM}: not one erasure set of {DRIVES} drives")
                return True
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(POLL_S)
        return False

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        """SIGTERM to the node this test started (by PID), SIGKILL if it lingers; bounded waits."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
