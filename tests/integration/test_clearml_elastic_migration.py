"""The clearml_server role moves clearstack's older Elasticsearch layout (<root>/data/elastic_7/data
and .../logs) into upstream's (<root>/data/elastic_7 is the data path), in place, on a tmp data root and
without Docker: every file keeps its content, owner and mode, a second run changes nothing, check mode
moves nothing, and a tree where both places hold an index is refused untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testhosts import ROOT, changed_tasks, failure_messages, playbook_env

PLAYBOOK = ROOT / "tests/integration/playbooks/migrate_elastic_layout.yml"

# An Elasticsearch 8 data path in miniature: nested index directories, a lock file, a hidden file.
INDEX = {
    "node.lock": "",
    "_state/manifest-3.st": "manifest",
    "_state/node-3.st": "node state",
    "indices/Xk3aQ/0/index/_0.cfs": "segment of shard 0",
    "indices/Xk3aQ/0/translog/translog-1.tlog": "translog",
    "indices/Xk3aQ/_state/state-1.st": "index state",
    "snapshot_cache/.hidden": "dot file",
}
LOGS = {"clearml.log": "old log line", "gc.log.1": "gc"}


def _write(base: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _tree(base: Path) -> dict[str, str]:
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}


def _old_layout(tmp: Path) -> Path:
    """<tmp>/data as clearml_dirs and Elasticsearch left it before: logs/, data/elastic_7/{data,logs}."""
    root = tmp / "data"
    (root / "logs").mkdir(parents=True)
    _write(root / "data/elastic_7/data", INDEX)
    _write(root / "data/elastic_7/logs", LOGS)
    return root


def _run(tmp: Path, root: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    inventory = tmp / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": {"clearml-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    env = playbook_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    # An engine that does not answer: whatever runs on this machine's Docker is never asked or stopped.
    env["DOCKER_HOST"] = f"unix://{tmp}/no-docker.sock"
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "-e", f"clearml_data_root={root}",
                           *extra, str(PLAYBOOK)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    return proc, json.loads(proc.stdout)


def _messages(result: dict) -> list[str]:
    return [res.get("msg", "") for play in result["plays"] for task in play["tasks"]
            for res in task["hosts"].values() if isinstance(res.get("msg"), str)]


def test_old_layout_moves_into_upstreams_keeping_files_owners_and_modes(tmp_path):
    root = _old_layout(tmp_path)
    es = root / "data/elastic_7"
    segment = es / "data/indices/Xk3aQ/0/index/_0.cfs"
    segment.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(segment, 1000, 1000)
    before = os.stat(segment)

    proc, result = _run(tmp_path, root)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _tree(es) == INDEX
    assert sorted(p.name for p in es.iterdir()) == ["_state", "indices", "node.lock", "snapshot_cache"]
    assert _tree(root / "logs/elasticsearch") == LOGS
    moved = es / "indices/Xk3aQ/0/index/_0.cfs"
    after = os.stat(moved)
    assert (after.st_ino, after.st_uid, after.st_gid, after.st_mode) == (before.st_ino, before.st_uid, before.st_gid, before.st_mode)
    said = [m for m in _messages(result) if m.startswith("Elasticsearch data moved")]
    assert len(said) == 1 and "_state, indices, node.lock, snapshot_cache" in said[0] and "logs/elasticsearch" in said[0], said
    assert changed_tasks(result)["clearml-host"]

    again, result = _run(tmp_path, root)
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed_tasks(result) == {}
    assert _tree(es) == INDEX and _tree(root / "logs/elasticsearch") == LOGS


def test_check_mode_reports_the_move_and_moves_nothing(tmp_path):
    root = _old_layout(tmp_path)
    before = _tree(root)
    proc, result = _run(tmp_path, root, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert _tree(root) == before
    assert "clearml_server : Move each entry of data/elastic_7/data up into data/elastic_7" in changed_tasks(result)["clearml-host"]
    assert any(m.startswith("Elasticsearch data would move") for m in _messages(result))


def test_both_layouts_holding_an_index_is_refused_and_nothing_moves(tmp_path):
    root = _old_layout(tmp_path)
    _write(root / "data/elastic_7", {"node.lock": "", "indices/Other/_state/state-0.st": "the other index"})
    before = _tree(root)
    proc, result = _run(tmp_path, root)
    assert proc.returncode != 0
    failures = " ".join(failure_messages(result)["clearml-host"])
    assert "hold Elasticsearch data" in failures and "Nothing was changed" in failures, failures
    assert _tree(root) == before
    assert changed_tasks(result) == {}


@pytest.mark.parametrize("layout", ["fresh", "upstream"])
def test_a_tree_without_the_old_layout_is_left_alone(tmp_path, layout):
    root = tmp_path / "data"
    (root / "data/elastic_7").mkdir(parents=True)
    if layout == "upstream":
        _write(root / "data/elastic_7", INDEX)
    before = _tree(root)
    proc, result = _run(tmp_path, root)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert changed_tasks(result) == {} and _tree(root) == before
