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


def pytest_collection_modifyitems(config, items):
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
