"""Why the data tree could not be set up (roles/clearml_dirs/filter_plugins/clearml_dirs_mounts.py), from
findmnt results as the rescue registers them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("clearml_dirs_mounts",
                                               ROOT / "roles/clearml_dirs/filter_plugins/clearml_dirs_mounts.py")
mounts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mounts)


def test_only_directories_on_read_only_mounts_are_named():
    results = [
        {"item": "/opt/clearml/data", "stdout": "/opt/clearml ro,relatime"},
        {"item": "/opt/clearml/logs", "stdout": "/ rw,relatime"},
        {"item": "/opt/clearml/agent", "stdout": "/srv rw,nosuid,ro"},
        # 'ro' inside another option name is not read-only.
        {"item": "/opt/clearml/config", "stdout": "/ rw,errors=remount-ro"},
        {"item": "/opt/clearml/gone", "stdout": ""},
    ]
    assert mounts.read_only_sentences(results) == [
        "/opt/clearml/data is on a read-only file system (mounted at /opt/clearml).",
        "/opt/clearml/agent is on a read-only file system (mounted at /srv).",
    ]


def test_no_read_only_mount_no_sentence():
    assert mounts.read_only_sentences([{"item": "/opt/clearml", "stdout": "/ rw,relatime"}]) == []
