"""The MinIO release table, the stamp of a build, the Go version check, the refused-proxy message, the
image's rootfs and the caches' bookkeeping: pure Python, no Go, no Docker, no network."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from clearstack.images import minio_build, releases
from clearstack.images.errors import ImageBuildError
from clearstack.images.minio_build import GoTooOld, GoUnavailable, ModuleUnavailable

SEPT = releases.by_tag("RELEASE.2025-09-07T16-13-09Z")
OCT = releases.by_tag("RELEASE.2025-10-15T17-29-55Z")
# What `go mod download -json` said for RELEASE.2025-10-15T17-29-55Z on the project's machines (2026-12-01).
REFUSAL_403 = ("github.com/minio/minio@v0.0.0-20251015172955-9e49d5e7a648: reading https://proxy.golang.org/github"
               ".com/minio/minio/@v/v0.0.0-20251015172955-9e49d5e7a648.info: 403 Forbidden\n\tserver response: This "
               "module version is not available.")
# The module source of the release this machine builds, where the Go module cache holds it.
SEPT_SOURCE = Path("/var/cache/clearstack/go/mod/github.com/minio/minio@v0.0.0-20250907161309-07c3a429bfed")


# ------------------------------------------------------------------------------------- the table

@pytest.mark.parametrize("release", releases.RELEASES, ids=lambda r: r.tag)
def test_pseudo_version_is_the_tag_commit_at_the_release_time(release):
    when, short = releases.pseudo_version_parts(release.module_version)
    assert when == release.time, "a MinIO release is named after its tag commit's time (UTC)"
    assert short == release.commit and re.fullmatch(r"[0-9a-f]{12}", release.commit)
    assert release.module == f"github.com/minio/minio@{release.module_version}"
    assert release.min_go >= (1, 24), "both releases' go.mod ask for go 1.24.0"


def test_table_is_newest_first_unique_and_holds_the_defaults():
    tags = [r.tag for r in releases.RELEASES]
    assert len(set(tags)) == len(tags)
    assert [r.time for r in releases.RELEASES] == sorted((r.time for r in releases.RELEASES), reverse=True)
    assert releases.by_tag(releases.DEFAULT_RELEASE).tag == releases.CVE_FIX_RELEASE == tags[0]
    assert "CVE-2025-62506" in OCT.note and "WITHOUT" in SEPT.note


def test_unknown_release_names_the_known_ones():
    with pytest.raises(releases.UnknownRelease) as err:
        releases.by_tag("RELEASE.2024-01-01")
    assert isinstance(err.value, ImageBuildError)
    assert "RELEASE.YYYY-MM-DDTHH-MM-SSZ" in str(err.value) and SEPT.tag in str(err.value)


def test_pseudo_version_parts_refuses_a_semver():
    with pytest.raises(ValueError):
        releases.pseudo_version_parts("v1.2.3")


# ----------------------------------------------------------------------------------- the stamp

def test_ldflags_stamp_the_release_as_upstreams_makefile_does():
    full = "07c3a429bfed433e49018cb0f78a52145d4bedeb"
    assert releases.ldflags(SEPT, full) == (
        "-s -w -X github.com/minio/minio/cmd.Version=2025-09-07T16:13:09Z"
        " -X github.com/minio/minio/cmd.CopyrightYear=2025"
        " -X github.com/minio/minio/cmd.ReleaseTag=RELEASE.2025-09-07T16-13-09Z"
        f" -X github.com/minio/minio/cmd.CommitID={full}"
        " -X github.com/minio/minio/cmd.ShortCommitID=07c3a429bfed")


def test_ldflags_without_the_full_commit_stamp_the_short_one_and_refuse_another_commit():
    flags = releases.ldflags(OCT)
    assert "cmd.CommitID=9e49d5e7a648 " in flags and flags.endswith("cmd.ShortCommitID=9e49d5e7a648")
    assert "cmd.Version=2025-10-15T17:29:55Z" in flags and "cmd.ReleaseTag=RELEASE.2025-10-15T17-29-55Z" in flags
    with pytest.raises(ValueError):
        releases.ldflags(OCT, "07c3a429bfed433e49018cb0f78a52145d4bedeb")


@pytest.mark.skipif(not SEPT_SOURCE.is_dir(), reason=f"the module source is not in the Go module cache ({SEPT_SOURCE})")
def test_ldflags_name_variables_the_module_declares():
    constants = (SEPT_SOURCE / "cmd" / "build-constants.go").read_text()
    gen = (SEPT_SOURCE / "buildscripts" / "gen-ldflags.go").read_text()
    for name in re.findall(r"-X github\.com/minio/minio/cmd\.(\w+)=", releases.ldflags(SEPT)):
        assert re.search(rf"^\s*{name}\s*=", constants, re.M), f"cmd.{name} is not declared in build-constants.go"
        assert f"cmd.{name}=" in gen, f"upstream's gen-ldflags.go does not stamp cmd.{name}"


# ---------------------------------------------------------------------------------------- Go

@pytest.mark.parametrize("text, expected", [
    ("go version go1.26.8 linux/amd64", (1, 26, 8, False, False)),
    ("go version go1.24.0 linux/arm64", (1, 24, 0, False, False)),
    ("go version go1.24 linux/amd64", (1, 24, 0, False, False)),
    ("go version go1.24rc1 linux/amd64", (1, 24, 0, True, False)),
    ("go version devel go1.27-5c3f1a2b Tue Nov 4 10:00:00 2026 +0000 linux/amd64", (1, 27, 0, False, True)),
    ("go version devel +5c3f1a2b Tue Nov 4 10:00:00 2021 +0000 linux/amd64", (0, 0, 0, False, True)),
])
def test_parse_go_version(text, expected):
    version = minio_build.parse_go_version(text)
    assert (version.major, version.minor, version.patch, version.prerelease, version.devel) == expected


@pytest.mark.parametrize("text", ["go version go1.24.0 linux/amd64", "go version go1.24.9 linux/amd64",
                                  "go version go1.26.8 linux/amd64", "go version go2.0 linux/amd64",
                                  "go version devel go1.27-5c3f1a2b Tue Nov 4 2026 linux/amd64",
                                  "go version devel +5c3f1a2b Tue Nov 4 2021 linux/amd64"])
def test_new_enough_go_is_accepted(text):
    assert minio_build.check_go_version(text, SEPT).text == text


@pytest.mark.parametrize("text", ["go version go1.19.8 linux/amd64", "go version go1.23.12 linux/amd64",
                                  "go version go1.24rc1 linux/amd64",
                                  "go version devel go1.22-abc Tue Nov 4 2023 linux/amd64"])
def test_old_go_is_refused_naming_what_to_install(text):
    with pytest.raises(GoTooOld) as err:
        minio_build.check_go_version(text, SEPT, "/usr/bin/go")
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, ImageBuildError)
    assert "/usr/bin/go" in message and SEPT.tag in message
    assert "Go >= 1.24" in message and "https://go.dev/dl" in message and "golang:1.24 image" in message
    assert "Debian 12's golang package is 1.19" in message


@pytest.mark.parametrize("text", ["", "go: command not found", "gccgo (GCC) 12.2.0"])
def test_unreadable_go_version_is_an_error(text):
    with pytest.raises(GoUnavailable):
        minio_build.check_go_version(text, SEPT)


def test_no_go_at_all_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(minio_build.shutil, "which", lambda name: None)
    monkeypatch.setattr(minio_build, "GO_FALLBACK", tmp_path / "go")
    with pytest.raises(GoUnavailable) as err:
        minio_build.find_go()
    assert "not on PATH" in str(err.value) and "https://go.dev/dl" in str(err.value)


# ------------------------------------------------------------------------- the proxy's refusal

def test_refusal_quotes_the_proxy_and_names_a_release_it_serves():
    message = minio_build.refusal_message(OCT, REFUSAL_403, served=SEPT)
    assert "\n" not in message and "\t" not in message
    assert message.startswith("the Go module proxy does not serve MinIO RELEASE.2025-10-15T17-29-55Z "
                              "(the release with the CVE-2025-62506 fix)")
    assert ("reading https://proxy.golang.org/github.com/minio/minio/@v/v0.0.0-20251015172955-9e49d5e7a648.info: "
            "403 Forbidden server response: This module version is not available.") in message
    assert "--release RELEASE.2025-09-07T16-13-09Z" in message and "WITHOUT the CVE-2025-62506 fix" in message
    assert "GOPROXY" in message
    assert "GONOSUMDB" not in message and "GOSUMDB=off" not in message and "insecure" not in message


def test_refusal_when_no_other_release_answers():
    message = minio_build.refusal_message(OCT, REFUSAL_403, served=None)
    assert "none of the other known releases answered either (RELEASE.2025-09-07T16-13-09Z)" in message
    assert "--release" not in message


FAKE_GO = """#!{python}
import json, sys
args = sys.argv[1:]
refused = "v0.0.0-20251015172955-9e49d5e7a648"
if args[:1] == ["version"]:
    print("go version go1.26.8 linux/amd64")
elif args[:3] == ["mod", "download", "-json"]:
    mod = args[3]
    if mod.endswith(refused):
        print(json.dumps({{"Path": "github.com/minio/minio", "Version": refused, "Error": {refusal!r}}}))
        sys.exit(1)
    print(json.dumps({{"Path": "github.com/minio/minio", "Version": mod.split("@")[1],
                       "Origin": {{"VCS": "git", "Hash": "07c3a429bfed433e49018cb0f78a52145d4bedeb"}}}}))
elif args[:4] == ["list", "-m", "-json", "-e"]:
    print(json.dumps({{"Path": "github.com/minio/minio"}} if not args[4].endswith(refused) else
                     {{"Error": {{"Err": "refused"}}}}))
else:
    sys.exit(2)
"""


def _fake_go(tmp_path: Path) -> str:
    (tmp_path / "bin").mkdir()
    go = tmp_path / "bin" / "go"
    go.write_text(FAKE_GO.format(python=sys.executable, refusal=REFUSAL_403))
    go.chmod(0o755)
    return str(go)


def test_resolve_of_a_refused_release_probes_the_others(tmp_path):
    go = _fake_go(tmp_path)
    env = minio_build.go_env(tmp_path)
    Path(env["GOMODCACHE"]).mkdir(parents=True)  # resolve runs go there
    version = minio_build.parse_go_version("go version go1.26.8 linux/amd64")
    with pytest.raises(ModuleUnavailable) as err:
        minio_build.resolve(go, env, OCT, version)
    assert "403 Forbidden server response: This module version is not available." in str(err.value)
    assert "--release RELEASE.2025-09-07T16-13-09Z" in str(err.value)
    record = minio_build.resolve(go, env, SEPT, version)
    assert record["Origin"]["Hash"].startswith(SEPT.commit)


def test_go_env_uses_the_shared_caches_and_no_other_toolchain(tmp_path, monkeypatch):
    monkeypatch.setenv("GOTOOLCHAIN", "auto")
    env = minio_build.go_env(tmp_path, GOBIN="/x")
    assert env["GOMODCACHE"] == str(tmp_path / "go" / "mod") and env["GOCACHE"] == str(tmp_path / "go" / "cache")
    assert (env["CGO_ENABLED"], env["GOTOOLCHAIN"], env["GOBIN"]) == ("0", "local", "/x")
    for name in ("GOSUMDB", "GONOSUMDB", "GOINSECURE", "GOPROXY", "GOFLAGS"):
        assert env.get(name) == os.environ.get(name), f"{name} is the user's to set, never loosened here"


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(minio_build.CACHE_ENV, raising=False)
    assert minio_build.cache_dir() == Path("/var/cache/clearstack")
    monkeypatch.setenv(minio_build.CACHE_ENV, str(tmp_path))
    assert minio_build.release_dir(SEPT) == tmp_path / "minio" / SEPT.tag


# ------------------------------------------------------------------------- caches and the image

def _binary_cache(tmp_path: Path, content: bytes = b"\x7fELF fake minio") -> Path:
    here = minio_build.release_dir(SEPT, tmp_path)
    here.mkdir(parents=True)
    (here / "minio").write_bytes(content)
    meta = {"release": SEPT.tag, "module": SEPT.module, "commit": SEPT.commit, "recipe": minio_build.BINARY_RECIPE,
            "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    (here / "build.json").write_text(json.dumps(meta))
    return here


def test_cached_binary_is_used_only_while_intact_and_of_the_same_recipe(tmp_path):
    here = _binary_cache(tmp_path)
    assert minio_build.cached_binary(SEPT, tmp_path)["sha256"]
    assert minio_build.cached_binary(OCT, tmp_path) is None
    (here / "minio").write_bytes(b"\x7fELF fake minin")  # same size, other bytes
    assert minio_build.cached_binary(SEPT, tmp_path) is None
    here2 = _binary_cache(tmp_path / "again")
    meta = json.loads((here2 / "build.json").read_text())
    (here2 / "build.json").write_text(json.dumps({**meta, "recipe": "0"}))
    assert minio_build.cached_binary(SEPT, tmp_path / "again") is None


def test_image_is_current_only_with_the_same_release_module_and_recipe():
    labels = minio_build.image_labels(SEPT, {"commit": "07c3a429bfed", "sha256": "ab", "size": 3, "go": "go1.26.8"})
    assert labels["org.opencontainers.image.version"] == SEPT.tag
    assert minio_build.image_is_current({"Config": {"Labels": labels}}, SEPT)
    assert not minio_build.image_is_current({"Config": {"Labels": labels}}, OCT)
    assert not minio_build.image_is_current({"Config": {"Labels": {**labels, "io.clearstack.minio.recipe": "0"}}}, SEPT)
    assert not minio_build.image_is_current({"Config": {"Labels": None}}, SEPT)
    assert not minio_build.image_is_current(None, SEPT)


def test_rootfs_holds_the_binary_certificates_and_a_writable_tmp(tmp_path, monkeypatch):
    here = _binary_cache(tmp_path)
    (here / "LICENSE").write_text("AGPL")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(minio_build, "CA_BUNDLE", ca)
    out = io.BytesIO()
    minio_build.write_rootfs(out, here / "minio", SEPT, here)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("usr/bin/minio").read() == b"\x7fELF fake minio"
        assert tar.extractfile("etc/ssl/certs/ca-certificates.crt").read().startswith(b"-----BEGIN")
        assert tar.extractfile("etc/passwd").read().startswith(b"root:x:0:0:")
    assert stat.S_IMODE(members["usr/bin/minio"].mode) == 0o755
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert "licenses/LICENSE" in members and "licenses/CREDITS" not in members  # only what the module had
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
    assert {m.mtime for m in members.values()} == {int(SEPT.time.timestamp())}  # the same bytes every time


# ------------------------------------------------------------------------- the build's progress

FAKE_BUILD = """import sys, time
print("go: downloading github.com/klauspost/compress v1.18.0", flush=True)
for k in range(6):
    print(f"github.com/example/pkg{k}", flush=True)
    time.sleep(0.1)
print("github.com/minio/minio", flush=True)
time.sleep(float(sys.argv[1]))
if sys.argv[2] != "0":
    print("cmd/x.go:12:3: undefined: Foo", flush=True)
sys.exit(int(sys.argv[2]))
"""


def _run_fake_build(tmp_path, monkeypatch, linger: str, rc: str, timeout_s: float = 30) -> list[str]:
    script = tmp_path / "fake_build.py"
    script.write_text(FAKE_BUILD)
    monkeypatch.setattr(minio_build, "HEARTBEAT_S", 0.2)
    said: list[str] = []
    minio_build._stream([sys.executable, str(script), linger, rc], dict(os.environ), tmp_path, timeout_s,
                        said.append, minio_build.time.monotonic())
    return said


def test_build_output_is_passed_on_with_a_heartbeat_counting_packages(tmp_path, monkeypatch):
    said = _run_fake_build(tmp_path, monkeypatch, "1.0", "0")  # five heartbeats' time after the last package
    assert said[0] == "  go: downloading github.com/klauspost/compress v1.18.0"
    assert not any("example/pkg" in line and "..." not in line for line in said), "package names are counted, not shown"
    assert any(line.startswith("  ... ") and "packages compiled" in line for line in said)
    assert any("7 packages compiled, linking minio" in line for line in said)


def test_build_failure_names_the_last_line_of_go_output(tmp_path, monkeypatch):
    with pytest.raises(minio_build.BuildFailed) as err:
        _run_fake_build(tmp_path, monkeypatch, "0", "2")
    assert str(err.value) == "`go install` failed (exit 2): cmd/x.go:12:3: undefined: Foo (its output is above)"


def test_build_that_overruns_is_stopped(tmp_path, monkeypatch):
    started = minio_build.time.monotonic()
    with pytest.raises(minio_build.BuildFailed) as err:
        _run_fake_build(tmp_path, monkeypatch, "60", "0", timeout_s=2)
    assert "did not finish in 2 s" in str(err.value) and minio_build.BUILD_TIMEOUT_ENV in str(err.value)
    assert minio_build.time.monotonic() - started < 20


# ------------------------------------------------------------------- the binary alone (no Docker)

def _no_docker_no_go(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ensure_binary must not need Docker, nor Go for a cached binary")
    monkeypatch.setattr(minio_build, "_docker", refuse)
    monkeypatch.setattr(minio_build, "find_go", refuse)


def test_ensure_binary_reuses_an_intact_cached_binary_without_go_or_docker(tmp_path, monkeypatch):
    here = _binary_cache(tmp_path)
    monkeypatch.setenv(minio_build.CACHE_ENV, str(tmp_path))
    _no_docker_no_go(monkeypatch)
    said: list[str] = []
    result = minio_build.ensure_binary(SEPT.tag, said.append)
    assert result.cached and result.binary == str(here / "minio") == str(minio_build.binary_path(SEPT))
    assert (result.release, result.size, result.module) == (SEPT.tag, len(b"\x7fELF fake minio"), SEPT.module)
    assert result.sha256 == hashlib.sha256(b"\x7fELF fake minio").hexdigest()
    assert any("reusing the binary built before" in line for line in said)


def test_ensure_binary_compiles_a_missing_or_damaged_binary_and_never_imports_an_image(tmp_path, monkeypatch):
    here = _binary_cache(tmp_path)
    (here / "minio").write_bytes(b"\x7fELF damaged minio")  # build.json no longer matches
    monkeypatch.setenv(minio_build.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(minio_build, "_docker", lambda *a, **k: pytest.fail("ensure_binary ran docker"))
    compiled: list[str] = []

    def fake_compile(release, cache, say, started):
        compiled.append(release.tag)
        assert (minio_build.release_dir(release, cache) / ".lock").exists(), "compiled without the release's lock"
        return {"release": release.tag, "module": release.module, "commit": "07c3a429bfed433e49018cb0f78a52145d4bedeb",
                "size": 7, "sha256": "ab" * 32, "go": "go1.26.8"}

    monkeypatch.setattr(minio_build, "compile_binary", fake_compile)
    result = minio_build.ensure_binary(SEPT.tag)
    assert compiled == [SEPT.tag] and not result.cached
    assert (result.commit, result.go, result.size) == ("07c3a429bfed433e49018cb0f78a52145d4bedeb", "go1.26.8", 7)


def test_ensure_binary_refuses_an_unknown_release_before_touching_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(minio_build.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(releases.UnknownRelease):
        minio_build.ensure_binary("RELEASE.2024-01-01T00-00-00Z")
    assert not (tmp_path / "cache").exists()
