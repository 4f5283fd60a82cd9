"""The docker role's plan for one-line Docker apt sources (roles/docker/filter_plugins/docker_sources.py)."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("docker_sources", ROOT / "roles/docker/filter_plugins/docker_sources.py")
docker_sources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docker_sources)

URI = "https://download.docker.com/linux/debian"
# What Docker's install page wrote (older key path than the role's /etc/apt/keyrings/docker.asc).
DOCKER_PAGE = "deb [arch=amd64 signed-by=/usr/share/keyrings/docker-archive-keyring.gpg] " + URI + " trixie stable\n"
DEBIAN = "deb http://deb.example.internal/debian trixie main\n"


def test_a_file_holding_only_docker_entries_is_removed():
    files = {
        "/etc/apt/sources.list.d/docker.list": "# added by hand\n" + DOCKER_PAGE,
        "/etc/apt/sources.list.d/download_docker_com_linux_debian.list": f"deb {URI}/ bookworm stable\n",
    }
    assert docker_sources.legacy_sources(files, URI) == {"remove": sorted(files), "strip": []}


def test_other_sources_are_kept_and_only_docker_lines_leave_a_mixed_file():
    files = {
        "/etc/apt/sources.list": DEBIAN + DOCKER_PAGE,
        "/etc/apt/sources.list.d/local.list": "deb-src [ arch=amd64 ] " + URI + " trixie stable\n" + DEBIAN,
        "/etc/apt/sources.list.d/debian.list": DEBIAN,
    }
    plan = docker_sources.legacy_sources(files, URI)
    assert plan["remove"] == []
    assert plan["strip"] == [
        {"path": "/etc/apt/sources.list", "line": DOCKER_PAGE.rstrip("\n")},
        {"path": "/etc/apt/sources.list.d/local.list", "line": "deb-src [ arch=amd64 ] " + URI + " trixie stable"},
    ]


def test_sources_list_itself_is_never_removed():
    plan = docker_sources.legacy_sources({"/etc/apt/sources.list": DOCKER_PAGE}, URI)
    assert plan == {"remove": [], "strip": [{"path": "/etc/apt/sources.list", "line": DOCKER_PAGE.rstrip("\n")}]}


def test_comments_other_uris_and_files_apt_does_not_read_are_left_alone():
    files = {
        "/etc/apt/sources.list.d/docker.list": "# " + DOCKER_PAGE,
        "/etc/apt/sources.list.d/mirror.list": f"deb {URI}-mirror trixie stable\ndeb http://other/{URI} trixie stable\n",
        "/etc/apt/sources.list.d/docker.list.save": DOCKER_PAGE,
        "/etc/apt/docker.list": DOCKER_PAGE,
    }
    assert docker_sources.legacy_sources(files, URI) == {"remove": [], "strip": []}


def test_the_filter_reads_slurp_results():
    results = [
        {"source": "/etc/apt/sources.list.d/docker.list", "content": base64.b64encode(DOCKER_PAGE.encode()).decode()},
        {"skipped": True},
    ]
    plan = docker_sources.FilterModule().filters()["docker_legacy_sources"](results, URI + "/")
    assert plan == {"remove": ["/etc/apt/sources.list.d/docker.list"], "strip": []}
