"""Build the MinIO server from its Go module and make the image clearstack/minio:<release>, without any registry.

1. The Go toolchain on the controller (>= the release's go.mod `go` line, 1.24 for the releases known
   today) compiles `github.com/minio/minio@<pseudo-version>` fetched through the Go module proxy, the
   way upstream's Makefile builds it: CGO_ENABLED=0, `-tags kqueue -trimpath`, and the linker flags of
   buildscripts/gen-ldflags.go that stamp the release (releases.ldflags). GOTOOLCHAIN=local: the go
   command never fetches another toolchain. Checksums are verified against GOSUMDB as usual (through
   the proxy); nothing here turns that off, so a release the proxy refuses fails with its answer.
2. The static binary is kept at <cache>/minio/<release>/minio with build.json beside it (what was
   built, how, its sha256); the Go module and build caches at <cache>/go/{mod,cache}. <cache> is
   $CLEARSTACK_CACHE_DIR, default /var/cache/clearstack: outside the repo, so later builds on the same
   machine (CI included) reuse it, and a new machine pays once.
3. `docker import` of a rootfs tarball made here (tarfile, streamed into docker's stdin): /usr/bin/minio,
   the controller's CA bundle, /etc/passwd and /etc/group with root, an empty /tmp (1777), /data, and
   MinIO's LICENSE and CREDITS under /licenses. ENTRYPOINT ["/usr/bin/minio"], so `docker run IMAGE
   server ...` runs `minio server ...` (upstream's image runs `minio` through its entrypoint too).
   Labels name the release, the module version, the commit and the recipe.

ensure_binary stops after step 2 (no Docker): the binary alone, for a node run straight on the machine.

Cached: an image of the tag whose labels name the same release, module version and recipe means
nothing to do (no Go, no network); a cached binary whose build.json matches is only re-imported.
Two builds of one release at once: the second waits for the first (a lock file), then finds it cached.
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from . import releases
from .errors import ImageBuildError
from .releases import Release

IMAGE_REPO = "clearstack/minio"
LABEL = "io.clearstack.minio."
# Bump when the image's content or config changes (rootfs, ENTRYPOINT, labels): images with another
# recipe label are imported again from the cached binary.
IMAGE_RECIPE = "1"
# Bump when the go command line changes (tags, flags, environment): binaries built by another recipe
# are built again.
BINARY_RECIPE = "1"
BUILD_TAGS = "kqueue"

CACHE_ENV = "CLEARSTACK_CACHE_DIR"
DEFAULT_CACHE = Path("/var/cache/clearstack")
BUILD_TIMEOUT_ENV = "CLEARSTACK_MINIO_BUILD_TIMEOUT"
BUILD_TIMEOUT_S = 3600  # a cold build on 2 busy cores: module downloads (1.2 GB) + ~10 min compile
RESOLVE_TIMEOUT_S = 600  # go mod download of the main module (its zip, a few tens of MB)
PROBE_TIMEOUT_S = 30
DOCKER_TIMEOUT_S = 60
IMPORT_TIMEOUT_S = 300
HEARTBEAT_S = 15
STOP_GRACE_S = 10

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
GO_FALLBACK = Path("/usr/local/go/bin/go")  # where the go.dev/dl tarball is unpacked by convention
INSTALL_GO = ("install Go >= {need} from https://go.dev/dl (unpack it to /usr/local/go, put /usr/local/go/bin "
              "on PATH) or run the build in the golang:{need} image; Debian 12's golang package is 1.19, too old")

_GO_VERSION_RE = re.compile(r"\bgo(\d+)\.(\d+)(?:\.(\d+))?((?:rc|beta)\d+)?")
_GO_MOD_LINE_RE = re.compile(r"^go\s+(\d+)\.(\d+)(?:\.(\d+))?\s*$", re.M)
_PACKAGE_LINE_RE = re.compile(r"^[A-Za-z0-9][\w.\-/~+]*$")  # what `go install -v` prints per package
_PR_SET_PDEATHSIG = 1

Say = Callable[[str], None]


class GoUnavailable(ImageBuildError):
    pass


class GoTooOld(ImageBuildError):
    pass


class ModuleUnavailable(ImageBuildError):
    """The module proxy (or the checksum database) refused the release's module."""


class BuildFailed(ImageBuildError):
    pass


class DockerUnavailable(ImageBuildError):
    pass


@dataclass
class BuildResult:
    release: str
    image: str
    image_id: str
    binary: str | None    # the cached binary (None if an image was found but its binary is gone)
    size: int             # bytes of the binary
    image_size: int       # bytes of the image, as docker counts them
    seconds: float
    cached: bool          # nothing was compiled (the image, or at least the binary, was there)
    image_cached: bool    # the image was there: nothing was done
    module: str           # github.com/minio/minio@v0.0.0-...
    commit: str           # the commit stamped as CommitID (full, or the table's short one)
    go: str | None        # the toolchain that built the binary

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BinaryResult:
    release: str
    binary: str           # <cache>/minio/<release>/minio
    size: int             # bytes of the binary
    sha256: str
    seconds: float
    cached: bool          # an intact binary of this release and recipe was there: nothing was compiled
    module: str           # github.com/minio/minio@v0.0.0-...
    commit: str           # the commit stamped as CommitID
    go: str | None        # the toolchain that built the binary

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- Go

@dataclass(frozen=True)
class GoVersion:
    major: int
    minor: int
    patch: int
    prerelease: bool   # 1.24rc1 comes before 1.24.0
    devel: bool        # a toolchain built from source ("go version devel ...")
    text: str

    def at_least(self, need: tuple[int, int]) -> bool:
        if self.devel and self.major == 0:
            return True  # a development toolchain without a release number: newer than any release
        have = (self.major, self.minor)
        return have > tuple(need) or (have == tuple(need) and not self.prerelease)


def parse_go_version(text: str) -> GoVersion:
    """`go version`'s answer: "go version go1.26.8 linux/amd64", "go version go1.24rc1 linux/amd64",
    "go version devel go1.27-5c3f1a2b Tue Nov 4 ..." or, older tip builds, "go version devel +5c3f1a2b ..."."""
    text = text.strip()
    if not text.startswith("go version "):
        raise GoUnavailable(f"cannot read the Go version from {text[:120]!r} (expected `go version goX.Y.Z ...`)")
    devel = text.split()[2:3] == ["devel"]
    match = _GO_VERSION_RE.search(text)
    if not match:
        if devel:
            return GoVersion(0, 0, 0, False, True, text)
        raise GoUnavailable(f"cannot read the Go version from {text[:120]!r} (expected `go version goX.Y.Z ...`)")
    major, minor, patch, pre = match.groups()
    return GoVersion(int(major), int(minor), int(patch or 0), bool(pre), devel, text)


def check_go_version(text: str, release: Release, where: str = "go") -> GoVersion:
    """Refuse a toolchain older than the release's go.mod asks for, naming what to install."""
    version = parse_go_version(text)
    need = release.min_go
    if not version.at_least(need):
        found = text.split()[2] if len(text.split()) > 2 else text
        raise GoTooOld(f"{found} ({where}) is too old to build MinIO {release.tag}, whose go.mod asks for "
                       f"Go >= {need[0]}.{need[1]}: " + INSTALL_GO.format(need=f"{need[0]}.{need[1]}"))
    return version


def find_go() -> str:
    found = shutil.which("go")
    if found:
        return found
    if GO_FALLBACK.is_file() and os.access(GO_FALLBACK, os.X_OK):
        return str(GO_FALLBACK)
    raise GoUnavailable(f"no Go toolchain: `go` is not on PATH, nor at {GO_FALLBACK}; "
                        + INSTALL_GO.format(need="1.24"))


def go_version(go: str, release: Release) -> GoVersion:
    try:
        answer = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30,
                                env={**os.environ, "GOTOOLCHAIN": "local"})
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GoUnavailable(f"`{go} version` failed: {err}; " + INSTALL_GO.format(need="1.24")) from err
    if answer.returncode != 0:
        raise GoUnavailable(f"`{go} version` failed (exit {answer.returncode}): {one_line(answer.stderr)}")
    return check_go_version(answer.stdout, release, go)


# ------------------------------------------------------------------------------------ the module

def one_line(text: str) -> str:
    return " ".join(str(text).split())


def refusal_message(release: Release, error: str, served: Release | None) -> str:
    """One line: which release, the go command's own words (the proxy's answer), and what can be built."""
    wanted = " (the release with the CVE-2025-62506 fix)" if release.tag == releases.CVE_FIX_RELEASE else ""
    msg = f"the Go module proxy does not serve MinIO {release.tag}{wanted}: go says \"{one_line(error)}\""
    if served is not None:
        msg += (f"; a release it does serve: --release {served.tag} ({served.note})")
    else:
        others = [r.tag for r in releases.RELEASES if r.tag != release.tag]
        if others:
            msg += f"; none of the other known releases answered either ({', '.join(others)})"
    return msg + f"; or set GOPROXY to a module proxy that serves {release.module}"


def go_env(cache: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOMODCACHE=str(cache / "go" / "mod"), GOCACHE=str(cache / "go" / "cache"), CGO_ENABLED="0",
               GOTOOLCHAIN="local", GOWORK="off")
    env.update(extra)
    return env


def _served(go: str, env: dict, release: Release) -> bool:
    """Does the proxy answer for this release's module? (.info only: nothing is downloaded.)"""
    try:
        answer = subprocess.run([go, "list", "-m", "-json", "-e", release.module], capture_output=True, text=True,
                                timeout=PROBE_TIMEOUT_S, env=env, cwd=env["GOMODCACHE"])
        return answer.returncode == 0 and "Error" not in json.loads(answer.stdout or "{}")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return False


def resolve(go: str, env: dict, release: Release, version: GoVersion) -> dict:
    """Download (or find in the module cache) the release's module, verified against the checksum
    database. Returns `go mod download -json`'s record (Dir, GoMod, Origin.Hash ...)."""
    try:
        answer = subprocess.run([go, "mod", "download", "-json", release.module], capture_output=True, text=True,
                                timeout=RESOLVE_TIMEOUT_S, env=env, cwd=env["GOMODCACHE"])
    except subprocess.TimeoutExpired as err:
        raise ModuleUnavailable(f"`go mod download {release.module}` did not finish in {RESOLVE_TIMEOUT_S} s "
                                "(is the module proxy reachable? see `go env GOPROXY`)") from err
    try:
        record = json.loads(answer.stdout)
    except ValueError:
        record = {"Error": answer.stderr or answer.stdout or f"exit {answer.returncode}"}
    if record.get("Error") or answer.returncode != 0:
        error = record.get("Error") or answer.stderr
        served = next((r for r in releases.RELEASES if r.tag != release.tag and _served(go, env, r)), None)
        raise ModuleUnavailable(refusal_message(release, error, served))
    full = (record.get("Origin") or {}).get("Hash")
    if full and not full.startswith(release.commit):
        raise ModuleUnavailable(f"the module proxy says {release.module} is commit {full}, not {release.tag}'s "
                                f"tag commit {release.commit}: refusing to build it")
    mod_text = Path(record["GoMod"]).read_text() if record.get("GoMod") else ""
    needs = _GO_MOD_LINE_RE.search(mod_text)
    if needs and not version.at_least((int(needs[1]), int(needs[2]))):
        raise GoTooOld(f"{version.text.split()[2]} is too old: {release.tag}'s go.mod asks for go {needs[1]}.{needs[2]}"
                       "; " + INSTALL_GO.format(need=f"{needs[1]}.{needs[2]}"))
    return record


# ----------------------------------------------------------------------------------- the build

def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def release_dir(release: Release, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "minio" / release.tag


def binary_path(release: Release, cache: Path | None = None) -> Path:
    """Where the stamped binary of a release is kept, built or not (see cached_binary)."""
    return release_dir(release, cache) / "minio"


def _build_timeout() -> float:
    """Seconds a build (and a wait for another build's lock) may take: $CLEARSTACK_MINIO_BUILD_TIMEOUT or the default."""
    return float(os.environ.get(BUILD_TIMEOUT_ENV) or BUILD_TIMEOUT_S)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_binary(release: Release, cache: Path) -> dict | None:
    """build.json of a binary built for this release by this recipe, if the binary is still intact."""
    here = release_dir(release, cache)
    try:
        meta = json.loads((here / "build.json").read_text())
        binary = binary_path(release, cache)
        if (meta.get("release"), meta.get("module"), meta.get("recipe")) != (release.tag, release.module,
                                                                              BINARY_RECIPE):
            return None
        if binary.stat().st_size != meta.get("size") or _sha256(binary) != meta.get("sha256"):
            return None
        return meta
    except (OSError, ValueError):
        return None


def _pdeathsig() -> None:
    # The build never outlives the driver (SIGKILL, OOM): the kernel sends go SIGTERM when it dies.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _stop(proc: subprocess.Popen) -> None:
    """End the go command and the compilers it started (its own process group, made for it)."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what the go command left of its group


def _stream(cmd: list[str], env: dict, cwd: Path, timeout_s: float, say: Say, started: float) -> None:
    """Run the go command, passing its output on as it comes (a heartbeat with the elapsed time and the
    packages compiled so far in between: `-v` names each package once it is built)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
                            preexec_fn=_pdeathsig)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    compiled, last_package, said = 0, "", []
    next_beat = time.monotonic() + HEARTBEAT_S
    try:
        while True:
            try:
                # Woken for the next heartbeat too, not only by output (a long link prints nothing).
                line = lines.get(timeout=min(1.0, max(next_beat - time.monotonic(), 0.05)))
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                if _PACKAGE_LINE_RE.match(line):
                    compiled, last_package = compiled + 1, line
                else:
                    said.append(line)
                    say(f"  {line}")
            now = time.monotonic()
            if now >= next_beat:
                state = f"{compiled} packages compiled, last {last_package}" if compiled else "resolving and compiling"
                if last_package == releases.MODULE:
                    state = f"{compiled} packages compiled, linking minio"
                say(f"  ... {now - started:.0f} s: {state}")
                next_beat = now + HEARTBEAT_S
            if now > deadline:
                raise BuildFailed(f"`go install` did not finish in {timeout_s:.0f} s and was stopped (set "
                                  f"{BUILD_TIMEOUT_ENV} for a slower machine)")
        try:
            rc = proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            raise BuildFailed(f"`go install` closed its output but did not exit within {STOP_GRACE_S} s") from None
    finally:
        _stop(proc)
    if rc != 0:
        last = next((ln for ln in reversed(said) if ln.strip()), f"exit {rc}")
        raise BuildFailed(f"`go install` failed (exit {rc}): {one_line(last)} (its output is above)")


def compile_binary(release: Release, cache: Path, say: Say, started: float) -> dict:
    go = find_go()
    version = go_version(go, release)
    here = release_dir(release, cache)
    staging = here / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = go_env(cache, GOBIN=str(staging))
    try:
        return _compile(go, version, env, release, here, staging, say, started)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _compile(go: str, version: GoVersion, env: dict, release: Release, here: Path, staging: Path, say: Say,
             started: float) -> dict:
    try:
        proxy = subprocess.run([go, "env", "GOPROXY"], capture_output=True, text=True, timeout=30, env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        proxy = ""
    say(f"resolving {release.module} through GOPROXY={proxy or '?'} ({version.text.split()[2]} at {go})")
    record = resolve(go, env, release, version)
    commit = (record.get("Origin") or {}).get("Hash") or release.commit
    flags = releases.ldflags(release, commit)
    cmd = [go, "install", "-v", "-tags", BUILD_TAGS, "-trimpath", "-ldflags", flags, release.module]
    cache = Path(env["GOMODCACHE"]).parent.parent
    timeout_s = _build_timeout()
    say(f"building {release.tag} (commit {commit[:12]}): CGO_ENABLED=0 go install -tags {BUILD_TAGS} -trimpath "
        f"{release.module}; caches in {cache / 'go'} (the first build takes minutes)")
    _stream(cmd, env, here, timeout_s, say, started)
    built = staging / "minio"
    if not built.is_file():
        raise BuildFailed(f"`go install` succeeded but left no binary at {built}")
    stamped = _minio_version(built)
    if release.tag not in stamped:
        raise BuildFailed(f"the built binary does not name {release.tag} in `minio --version`: {one_line(stamped)}")
    for name in ("LICENSE", "CREDITS"):
        source = Path(record.get("Dir") or "/nonexistent") / name
        if source.is_file():
            shutil.copyfile(source, here / name)
            (here / name).chmod(0o644)
    meta = {"release": release.tag, "module": release.module, "commit": commit, "recipe": BINARY_RECIPE,
            "go": version.text.split()[2], "ldflags": flags, "tags": BUILD_TAGS, "size": built.stat().st_size,
            "sha256": _sha256(built), "built_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.replace(built, here / "minio")
    (here / "build.json.tmp").write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(here / "build.json.tmp", here / "build.json")
    return meta


def _minio_version(binary: Path) -> str:
    try:
        answer = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildFailed(f"{binary} --version failed: {err}") from err
    return answer.stdout + answer.stderr


# ----------------------------------------------------------------------------------- the image

def _docker(*args: str, timeout: float = DOCKER_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as err:
        raise DockerUnavailable("no docker CLI on PATH: install Docker (apt-get install docker.io)") from err
    except subprocess.TimeoutExpired as err:
        raise DockerUnavailable(f"`docker {args[0]}` did not answer in {timeout:.0f} s") from err


def check_docker() -> None:
    answer = _docker("version", "--format", "{{.Server.Version}}")
    if answer.returncode != 0:
        raise DockerUnavailable(f"no Docker engine answers: {one_line(answer.stderr)}")


def image_labels(release: Release, meta: dict) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "minio",
        "org.opencontainers.image.version": release.tag,
        "org.opencontainers.image.revision": meta["commit"],
        "org.opencontainers.image.source": "https://github.com/minio/minio",
        "org.opencontainers.image.licenses": "AGPL-3.0-or-later",
        f"{LABEL}release": release.tag,
        f"{LABEL}module": release.module,
        f"{LABEL}commit": meta["commit"],
        f"{LABEL}go": meta.get("go") or "",
        f"{LABEL}binary-sha256": meta["sha256"],
        f"{LABEL}binary-size": str(meta["size"]),
        f"{LABEL}recipe": IMAGE_RECIPE,
    }


def inspect_image(tag: str) -> dict | None:
    answer = _docker("image", "inspect", "--format", "{{json .}}", tag)
    if answer.returncode != 0:
        return None
    return json.loads(answer.stdout)


def image_is_current(info: dict | None, release: Release) -> bool:
    labels = ((info or {}).get("Config") or {}).get("Labels") or {}
    return (labels.get(f"{LABEL}release"), labels.get(f"{LABEL}module"), labels.get(f"{LABEL}recipe")) == \
        (release.tag, release.module, IMAGE_RECIPE)


_PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_NSSWITCH = "hosts: files dns\n"


def write_rootfs(out, binary: Path, release: Release, licenses: Path) -> None:
    """The image's whole file system as a tar stream: every entry owned by root, dated at the release."""
    mtime = int(release.time.timestamp())

    def entry(name: str, mode: int, kind: bytes = tarfile.REGTYPE, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, mtime
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("etc", 0o755), ("etc/ssl", 0o755), ("etc/ssl/certs", 0o755), ("usr", 0o755),
                           ("usr/bin", 0o755), ("tmp", 0o1777), ("root", 0o700), ("data", 0o755),
                           ("licenses", 0o755)):
            tar.addfile(entry(name, mode, tarfile.DIRTYPE))
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP), ("etc/nsswitch.conf", _NSSWITCH)):
            data = text.encode()
            tar.addfile(entry(name, 0o644, size=len(data)), io.BytesIO(data))
        for name, source, mode in (("etc/ssl/certs/ca-certificates.crt", CA_BUNDLE, 0o644),
                                   ("usr/bin/minio", binary, 0o755),
                                   ("licenses/LICENSE", licenses / "LICENSE", 0o644),
                                   ("licenses/CREDITS", licenses / "CREDITS", 0o644)):
            if not source.is_file():
                continue
            with source.open("rb") as fh:
                tar.addfile(entry(name, mode, size=source.stat().st_size), fh)


def import_image(release: Release, binary: Path, meta: dict, say: Say) -> str:
    if not CA_BUNDLE.is_file():
        raise BuildFailed(f"no CA bundle at {CA_BUNDLE} for the image: install it (apt-get install ca-certificates)")
    tag = f"{IMAGE_REPO}:{release.tag}"
    changes = ['ENTRYPOINT ["/usr/bin/minio"]', 'CMD ["--help"]', "EXPOSE 9000 9001"]
    changes += [f"LABEL {key}={json.dumps(value)}" for key, value in image_labels(release, meta).items()]
    cmd = ["docker", "import"] + [arg for change in changes for arg in ("-c", change)] + ["-", tag]
    say(f"importing {tag} (binary {meta['size'] / 1e6:.0f} MB, CA certificates, /tmp)")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # docker gave up early: its stderr says why
            write_rootfs(proc.stdin, binary, release, binary.parent)
        out, err = proc.communicate(timeout=IMPORT_TIMEOUT_S)  # closes stdin: the end of the tar stream
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait(timeout=STOP_GRACE_S)
        raise BuildFailed(f"`docker import` did not finish in {IMPORT_TIMEOUT_S} s") from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_GRACE_S)
    if proc.returncode != 0:
        raise BuildFailed(f"`docker import` of {tag} failed: {one_line(err.decode(errors='replace'))}")
    return out.decode().strip()


# ------------------------------------------------------------------------------------- the verb

@contextlib.contextmanager
def _locked(here: Path, say: Say, timeout_s: float) -> Iterator[None]:
    """One build per release at a time (a second one waits, bounded, then finds the first one's work)."""
    try:
        here.mkdir(parents=True, exist_ok=True)
        fh = (here / ".lock").open("a+")
    except OSError as err:
        raise BuildFailed(f"cannot write the build cache {here}: {err.strerror}; set {CACHE_ENV} to a writable "
                          "directory") from err
    with fh:
        deadline, told = time.monotonic() + timeout_s, False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildFailed(f"another build of {here.name} held {here / '.lock'} for {timeout_s:.0f} s")
                if not told:
                    fh.seek(0)
                    say(f"waiting for another build of {here.name} ({one_line(fh.read()) or 'pid unknown'})")
                    told = True
                time.sleep(1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield


def _binary(release: Release, cache: Path, say: Say, started: float) -> tuple[dict, bool]:
    """build.json of the release's binary, compiled unless an intact one is cached; (meta, was cached).
    The caller holds the release's lock."""
    meta = cached_binary(release, cache)
    if meta:
        say(f"reusing the binary built before at {binary_path(release, cache)} (built by {meta.get('go')})")
        return meta, True
    return compile_binary(release, cache, say, started), False


def ensure_binary(tag: str | None = None, say: Say = lambda msg: None) -> BinaryResult:
    """The stamped server binary of a release, compiled only when the cache holds no intact one of it:
    `build` without the image, so no Docker engine is needed (a node run straight on the machine, as the
    dataset tests do). Go is needed only when it compiles. Same cache, same lock as `build`."""
    started = time.monotonic()
    release = releases.by_tag(tag or releases.DEFAULT_RELEASE)
    cache = cache_dir()
    timeout_s = _build_timeout()
    with _locked(release_dir(release, cache), say, timeout_s):
        meta, cached = _binary(release, cache, say, started)
    return BinaryResult(release.tag, str(binary_path(release, cache)), int(meta["size"]), meta["sha256"],
                        round(time.monotonic() - started, 2), cached, release.module, meta["commit"],
                        meta.get("go"))


def build(tag: str | None = None, say: Say = lambda msg: None) -> BuildResult:
    started = time.monotonic()
    release = releases.by_tag(tag or releases.DEFAULT_RELEASE)
    image = f"{IMAGE_REPO}:{release.tag}"
    cache = cache_dir()
    check_docker()
    here = release_dir(release, cache)
    timeout_s = _build_timeout()
    with _locked(here, say, timeout_s):
        info = inspect_image(image)
        if image_is_current(info, release):
            labels = info["Config"]["Labels"]
            binary = binary_path(release, cache)
            say(f"{image} is already built ({info['Id'][:19]}): nothing to do")
            return BuildResult(release.tag, image, info["Id"], str(binary) if binary.is_file() else None,
                               int(labels.get(f"{LABEL}binary-size") or 0), int(info.get("Size") or 0),
                               round(time.monotonic() - started, 2), True, True, release.module,
                               labels.get(f"{LABEL}commit") or release.commit, labels.get(f"{LABEL}go") or None)
        meta, binary_cached = _binary(release, cache, say, started)
        image_id = import_image(release, binary_path(release, cache), meta, say)
        if info and info.get("Id") != image_id:
            # The image this tag named before (another recipe): removed unless something still uses it
            # or another tag names it (no -f), in which case docker refuses and it stays.
            _docker("image", "rm", info["Id"])
        new = inspect_image(image) or {}
    return BuildResult(release.tag, image, image_id, str(binary_path(release, cache)), int(meta["size"]),
                       int(new.get("Size") or 0), round(time.monotonic() - started, 2), binary_cached, False,
                       release.module, meta["commit"], meta.get("go"))
