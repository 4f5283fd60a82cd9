"""Shared pytest setup.

Tests that need Docker skip with the reason when no engine answers, except under scripts/test.sh
(CLEARSTACK_REQUIRE_DOCKER=1), where that is an error: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _docker_ready() -> str | None:
    if not shutil.which("docker"):
        return "no docker CLI"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return "no Docker engine answers (scripts/test.sh starts one)"
    return None


# The slowest test files, slowest first (from the --durations of a full run, docs/testing.md). The
# workers take whole files in collection order (scripts/test.sh: --dist loadfile --no-loadscope-reorder),
# so starting with these keeps a long file from being the last on its worker while the other idles.
# Order only: every test runs either way.
SLOW_FILES_FIRST = [
    "integration/test_lab_stack.py",
    "integration/test_reliability_lab.py",
    "integration/test_host_layer_drift.py",
    "integration/test_molecule_host_roles.py",
    "integration/test_molecule_service_roles.py",
    "integration/test_molecule_clearml_server.py",
    "integration/test_lab.py",
]


def _slow_rank(item) -> int:
    path = item.nodeid.split("::", 1)[0].removeprefix("tests/")
    return SLOW_FILES_FIRST.index(path) if path in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_slow_rank)  # stable: the rest keep their order
    needs_docker = [item for item in items if item.get_closest_marker("docker") or item.get_closest_marker("molecule")]
    if not needs_docker:
        return
    reason = _docker_ready()
    if reason and os.environ.get("CLEARSTACK_REQUIRE_DOCKER"):
        raise pytest.UsageError(f"Docker-based tests required but {reason}")
    if reason:
        for item in needs_docker:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def reliability(request):
    """Rows of the reliability table (tests/reports.py): `row = reliability(case, expected)` adds one
    that says the test failed before observing; the test then fills in "observed" and "data intact".
    A module names its area in RELIABILITY_AREA; its rows are recorded when the module ends."""
    from reports import record

    rows: list[dict] = []

    def add(case: str, expected: str) -> dict:
        row = {"case": case, "expected": expected, "observed": "FAILED before it was observed", "data intact": False}
        rows.append(row)
        return row

    yield add
    record("reliability", getattr(request.module, "RELIABILITY_AREA", request.module.__name__), rows)
