"""The judgements behind preflight's refusals (roles/preflight/filter_plugins/preflight_checks.py),
without a host: the shapes are those the tasks register (ss -Hltnp lines, loop results)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("preflight_checks", ROOT / "roles/preflight/filter_plugins/preflight_checks.py")
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)

GIB = 1024 ** 3
PATTERN = __import__("yaml").safe_load((ROOT / "roles/preflight/vars/main.yml").read_text())["preflight_image_pattern"]


def _disk(path, measured_at, free, min_gb=20, what="ClearML data", var="preflight_clearml_min_disk_free_gb"):
    return {"item": {"path": path, "what": what, "min_gb": min_gb, "var": var}, "stdout_lines": [measured_at, str(free)]}


def test_disk_enough_space_passes_and_a_short_path_is_named_with_where_it_was_measured():
    assert checks.disk_shortfalls([_disk("/opt/clearml", "/opt/clearml", 20 * GIB)], "h1") == []
    found = checks.disk_shortfalls([_disk("/opt/clearml", "/", int(7.25 * GIB)),
                                    _disk("/opt/minio", "/opt/minio", 11 * GIB, 10, "MinIO drives", "preflight_minio_min_disk_free_gb")],
                                   "h1")
    assert found == ["h1 has 7.2 GiB free on the filesystem that will hold the ClearML data (/opt/clearml, measured at /); "
                     "it needs 20 GiB (preflight_clearml_min_disk_free_gb)."]


def test_port_clashes_name_every_user_of_a_port_once():
    published = [{"port": 9000, "what": "minio_api_port (S3)"}, {"port": "8008", "what": "clearml_server_api_port"},
                 {"port": 9000, "what": "clearml_server_files_port"}, {"port": 9001, "what": "console"}]
    assert checks.port_clashes(published) == ["port 9000 for minio_api_port (S3) and clearml_server_files_port"]
    assert checks.port_clashes(published[1:2]) == []


@pytest.mark.parametrize("ref, pinned", [
    ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", True),
    ("nginx:1.28.0-alpine@sha256:" + "a" * 64, True),
    ("registry.example:5000/team/minio@sha256:" + "0" * 64, True),
    ("quay.io/minio/minio", False),              # no tag
    ("minio/minio:latest", False),               # a moving tag
    ("nginx:latest@sha256:" + "a" * 64, False),  # latest, even with a digest
    ("minio:RELEASE@sha256:14cea493d9", False),  # a cut digest
    (["not", "a", "string"], False),
])
def test_image_pins(ref, pinned):
    assert checks.unpinned_images({"minio_image": ref}, PATTERN) == ([] if pinned else ["minio_image"])


def test_unpinned_image_sentence_names_variable_value_and_host():
    assert checks.unpinned_image_sentences({"minio_image": "minio/minio", "minio_lb_image": "nginx:1.28.0"}, PATTERN, "h1") == [
        "minio_image is 'minio/minio' on h1, not a pinned image reference."]


SS = [
    'LISTEN 0 4096 0.0.0.0:8008 0.0.0.0:* users:(("docker-proxy",pid=101,fd=4))',
    'LISTEN 0 5 0.0.0.0:8080 0.0.0.0:* users:(("python3",pid=202,fd=3))',
    'LISTEN 0 4096 *:9000 *:* users:(("minio",pid=303,fd=7))',
    'LISTEN 0 4096 *:9001 *:* users:(("minio",pid=404,fd=8))',
    'LISTEN 0 128 [::]:8081 [::]:*',
]


def test_only_listeners_of_something_else_are_foreign():
    found = checks.foreign_listeners(SS, ["303 minio", "404 someone-elses-minio"], ["docker-proxy", "dockerd"], ["minio", "minio-lb"])
    assert [(x["port"], x["address"], x["holders"]) for x in found] == [
        ("8080", "0.0.0.0:8080", ["python3 (pid 202)"]),
        ("9001", "*:9001", ["minio (pid 404)"]),   # a process named minio, but not in our container
        ("8081", "[::]:8081", []),                 # ss could not name it: foreign
    ]
    assert checks.listener_report(found) == ("port 8080 on 0.0.0.0:8080 held by python3 (pid 202); port 9001 on *:9001 held by "
                                             "minio (pid 404); port 8081 on [::]:8081 held by a process ss does not name")


def test_clock_offsets_from_the_median():
    assert checks.clock_offsets(["a", "b", "c", "d"], [1000, 1003, 930, 1001]) == (73, "a +0 s, b +3 s, c -70 s, d +1 s")
    assert checks.clock_offsets([], []) == (0, "")


def test_replaced_variables_each_named_with_its_replacement():
    replacements = {"clearml_dirs_root": "clearml_data_root", "minio_group": "the fixed group name minio"}
    assert checks.replacement_sentence(["clearml_dirs_root", "minio_group"], replacements) == (
        "clearml_dirs_root is replaced by clearml_data_root; minio_group is replaced by the fixed group name minio.")
