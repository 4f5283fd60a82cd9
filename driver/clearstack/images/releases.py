"""The MinIO releases clearstack knows how to build from source, and how a build is stamped.

MinIO's community edition ships source only (no binaries, no images since Sept 2026), so the server is
built from its Go module, `github.com/minio/minio`. Its release tags (RELEASE.YYYY-MM-DDTHH-MM-SSZ) are
not semantic versions, so the Go module proxy knows each release by a pseudo-version
`v0.0.0-<commit time, UTC, YYYYMMDDHHMMSS>-<12-char commit>`; upstream names each release after the
time of its tag commit, so the two times agree (tests/unit/test_minio_releases.py holds them to it).

This table keeps the SHORT commit only (the pseudo-version's suffix). The full commit id that
upstream stamps into CommitID is read at build time from the proxy's answer for the module
(`go mod download -json`: Origin.Hash), and must start with the short one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import ImageBuildError

MODULE = "github.com/minio/minio"
# The package whose variables the release is stamped into (cmd/build-constants.go).
STAMP_PACKAGE = f"{MODULE}/cmd"
TAG_TIME_LAYOUT = "RELEASE.%Y-%m-%dT%H-%M-%SZ"
_TAG_RE = re.compile(r"^RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$")
_PSEUDO_RE = re.compile(r"^v0\.0\.0-(?P<time>\d{14})-(?P<commit>[0-9a-f]{12})$")


@dataclass(frozen=True)
class Release:
    tag: str              # RELEASE.2025-09-07T16-13-09Z
    module_version: str   # the Go module proxy's pseudo-version of the tag commit
    commit: str           # the tag commit, short (12 hex digits, the pseudo-version's suffix)
    min_go: tuple[int, int]  # the go.mod's `go` line: the oldest toolchain that builds it
    note: str

    @property
    def time(self) -> datetime:
        return datetime.strptime(self.tag, TAG_TIME_LAYOUT).replace(tzinfo=timezone.utc)

    @property
    def version(self) -> str:
        """The RFC 3339 time upstream stamps as cmd.Version (e.g. 2025-09-07T16:13:09Z)."""
        return self.time.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def module(self) -> str:
        return f"{MODULE}@{self.module_version}"


# Newest first. Versions and commits: DOMAIN-NOTES.md "MinIO distributed", checked against the module
# proxy's .info of RELEASE.2025-09-07T16-13-09Z (Origin.Hash 07c3a429bfed...) on 2026-12-01.
RELEASES: tuple[Release, ...] = (
    Release(
        tag="RELEASE.2025-10-15T17-29-55Z",
        module_version="v0.0.0-20251015172955-9e49d5e7a648",
        commit="9e49d5e7a648",
        min_go=(1, 24),
        note="the last release (source only); fixes CVE-2025-62506 (an IAM sub-policy check, fix commit c1a49490c78e)",
    ),
    Release(
        tag="RELEASE.2025-09-07T16-13-09Z",
        module_version="v0.0.0-20250907161309-07c3a429bfed",
        commit="07c3a429bfed",
        min_go=(1, 24),
        note="the last release upstream published as a binary and an image; WITHOUT the CVE-2025-62506 fix",
    ),
)

# The default is the release with the CVE-2025-62506 fix: building one without it must be a choice
# someone made (--release). Where the module proxy refuses it (proxy.golang.org answers 403 for it on
# the project's machines since 2026-12), the build fails and its message names the release that proxy
# does serve, with the CVE caveat (minio_build.ModuleUnavailable).
DEFAULT_RELEASE = "RELEASE.2025-10-15T17-29-55Z"
CVE_FIX_RELEASE = "RELEASE.2025-10-15T17-29-55Z"


class UnknownRelease(ImageBuildError, ValueError):
    """--release names a release this table does not hold."""


def by_tag(tag: str) -> Release:
    for release in RELEASES:
        if release.tag == tag:
            return release
    shape = "" if _TAG_RE.match(tag) else " (a release tag looks like RELEASE.YYYY-MM-DDTHH-MM-SSZ)"
    raise UnknownRelease(f"unknown MinIO release {tag!r}{shape}; known: {', '.join(r.tag for r in RELEASES)} "
                         "(driver/clearstack/images/releases.py)")


def pseudo_version_parts(module_version: str) -> tuple[datetime, str]:
    """(commit time, short commit) of a v0.0.0-YYYYMMDDHHMMSS-abcdef123456 pseudo-version."""
    match = _PSEUDO_RE.match(module_version)
    if not match:
        raise ValueError(f"{module_version!r} is not a v0.0.0-YYYYMMDDHHMMSS-<12 hex> pseudo-version")
    when = datetime.strptime(match["time"], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    return when, match["commit"]


def ldflags(release: Release, commit_id: str | None = None) -> str:
    """The linker flags upstream's Makefile passes (buildscripts/gen-ldflags.go in the module): strip
    symbols and DWARF (-s -w), and set the variables of cmd/build-constants.go: Version (RFC 3339 time of
    the release), CopyrightYear (its year), ReleaseTag, CommitID (full commit) and ShortCommitID (its
    first 12 characters). gen-ldflags also sets cmd.GOPATH/GOROOT to the builder's environment; they are
    left empty here (they would only leak the build machine's paths). `minio --version` prints ReleaseTag.

    commit_id: the full tag commit, when the proxy named it; otherwise the table's short commit is
    stamped as both CommitID and ShortCommitID."""
    commit = commit_id or release.commit
    if not commit.startswith(release.commit):
        raise ValueError(f"commit {commit} is not {release.tag}'s tag commit {release.commit}")
    stamps = (("Version", release.version), ("CopyrightYear", str(release.time.year)),
              ("ReleaseTag", release.tag), ("CommitID", commit), ("ShortCommitID", commit[:12]))
    return " ".join(["-s", "-w"] + [f"-X {STAMP_PACKAGE}.{name}={value}" for name, value in stamps])
