"""roles/minio/filter_plugins/minio_pool.py: the MinIO node names, port and drives per node as the ONE
ellipsis argument of the server pool, read the way MinIO reads it (minio/pkg v3.1.3
ellipses/ellipses.go, pinned by minio/minio RELEASE.2025-09-07T16-13-09Z), and the refusal of names
that cannot be one range. No Docker."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("minio_pool", ROOT / "roles/minio/filter_plugins/minio_pool.py")
minio_pool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(minio_pool)


def minio_expand(arg: str) -> list[str]:
    """What MinIO makes of one argument (ellipses.go: every {N...M} range, zero-padded to M's width when
    N has a leading zero or M starts with 0; the rightmost range runs outermost)."""
    ranges = list(re.finditer(r"\{(\d+)\.\.\.(\d+)\}", arg))
    if not ranges:
        return [arg]
    m = ranges[-1]
    start, end = m.group(1), m.group(2)
    pad = (start.startswith("0") and len(start) > 1) or end.startswith("0")
    out = []
    for i in range(int(start), int(end) + 1):
        num = str(i).zfill(len(end)) if pad else str(i)
        out += minio_expand(arg[:m.start()] + num + arg[m.end():])
    return out


def test_four_hosts_one_drive_is_the_documented_argument():
    names = [f"minio{i}.example.internal" for i in range(1, 5)]
    assert minio_pool.minio_pool_arg(names, 9000, 1) == "http://minio{1...4}.example.internal:9000/data1"


def test_many_drives_are_one_range_and_expand_drive_by_drive_across_the_hosts():
    names = [f"minio{i}.example.internal" for i in range(1, 5)]
    arg = minio_pool.minio_pool_arg(names, 9000, 2)
    assert arg == "http://minio{1...4}.example.internal:9000/data{1...2}"
    # The order of the drive-by-drive list this replaces, so erasure sets still spread over the hosts.
    assert minio_expand(arg) == [f"http://{n}:9000/data{d}" for d in (1, 2) for n in names]


def test_all_in_one_keeps_its_command():
    assert minio_pool.minio_pool_arg(["minio1", "minio2", "minio3", "minio4"], 9000, 1) == "http://minio{1...4}:9000/data1"
    assert minio_pool.minio_pool_arg(["minio1", "minio2", "minio3", "minio4"], "9100", "3") == "http://minio{1...4}:9100/data{1...3}"


@pytest.mark.parametrize("seed", range(5))
def test_any_inventory_order(seed):
    names = ["mc-minio1", "mc-minio2", "mc-minio3", "mc-minio4"]
    random.Random(seed).shuffle(names)
    assert minio_pool.minio_host_range(names) == "mc-minio{1...4}"


@pytest.mark.parametrize(("names", "expected"), [
    ([f"minio0{i}" for i in range(1, 5)], "minio{01...04}"),
    ([f"minio{i:03d}.lab" for i in range(1, 5)], "minio{001...004}.lab"),
    (["minio08", "minio09", "minio10", "minio11"], "minio{08...11}"),  # MinIO pads to the end's width
    (["minio9", "minio10", "minio11", "minio12"], "minio{9...12}"),
    (["minio10", "minio11", "minio12", "minio13"], "minio{10...13}"),  # the shared "1" is part of the number
    (["node1a", "node2a", "node3a", "node4a"], "node{1...4}a"),
    (["s3-2-eu", "s3-3-eu", "s3-4-eu", "s3-5-eu"], "s3-{2...5}-eu"),
    (["10.238.77.1", "10.238.77.2", "10.238.77.3", "10.238.77.4"], "10.238.77.{1...4}"),
    (["minio0", "minio1"], "minio{0...1}"),
    (["only.example.internal"], "only.example.internal"),
])
def test_prefix_padding_suffix(names, expected):
    assert minio_pool.minio_host_range(names) == expected
    assert sorted(minio_expand(expected)) == sorted(names)


@pytest.mark.parametrize(("names", "why"), [
    (["minio1", "minio2", "minio4", "minio5"], "not a consecutive run"),
    (["minio1", "minio02", "minio03", "minio04"], "not a consecutive run with one zero padding"),
    (["minio1", "minio2", "minio3", "storage4"], "common prefix '', common suffix '', and 'minio1' has 'minio1'"),
    (["minio1.a.internal", "minio2.b.internal", "minio3.a.internal", "minio4.a.internal"], "common prefix 'minio', common suffix '.internal', and 'minio1.a.internal' has '1.a'"),
    (["alpha", "beta", "gamma", "delta"], "differ outside one number"),
    (["minio1", "minio1", "minio2", "minio3"], "appears twice"),
    (["minio1", "minio01", "minio2", "minio3"], "zero padding"),
])
def test_names_that_are_not_one_range_are_refused_naming_hosts_and_fix(names, why):
    with pytest.raises(minio_pool.MinioPoolError) as refused:
        minio_pool.minio_pool_arg(names, 9000, 2)
    message = str(refused.value)
    assert why in message
    assert ", ".join(names) in message
    assert "rename the hosts so their names count up, e.g. minio1..minio4" in message
    assert minio_pool.minio_pool_error(names) == message


def test_fitting_names_have_no_error_and_an_empty_group_is_refused():
    assert minio_pool.minio_pool_error(["minio2", "minio1"]) == ""
    with pytest.raises(minio_pool.MinioPoolError, match="empty"):
        minio_pool.minio_host_range([])
    with pytest.raises(minio_pool.MinioPoolError, match="at least one drive"):
        minio_pool.minio_pool_arg(["minio1", "minio2"], 9000, 0)


def test_filter_module_raises_ansible_filter_errors():
    from ansible.errors import AnsibleFilterError

    filters = minio_pool.FilterModule().filters()
    assert filters["minio_pool_arg"](["b1", "b2"], 9000, 1) == "http://b{1...2}:9000/data1"
    with pytest.raises(AnsibleFilterError, match="rename the hosts"):
        filters["minio_pool_arg"](["a", "b"], 9000, 1)


def _play(tmp_path, names, drives=1):
    """ansible-playbook of tests/unit/playbooks/minio_pool.yml on local hosts with these names (json output)."""
    import json
    import os
    import subprocess

    inventory = tmp_path / "hosts.yml"
    hosts = {n: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for n in names}
    inventory.write_text(json.dumps({"all": {"children": {"minio": {"hosts": hosts}}}}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"), "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote")}
    ansible = Path(sys.executable).with_name("ansible-playbook")
    proc = subprocess.run([str(ansible), "-i", str(inventory), "-e", json.dumps({"minio_drives_per_node": drives}),
                           str(ROOT / "tests/unit/playbooks/minio_pool.yml")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _results(report, task_name):
    return [res for play in report["plays"] for task in play["tasks"] if task["task"]["name"].removeprefix("minio : ") == task_name
            for res in task["hosts"].values()]


def test_the_four_host_command_is_one_ellipsis_argument(tmp_path):
    names = ["minio3.example.internal", "minio1.example.internal", "minio4.example.internal", "minio2.example.internal"]
    rc, report, err = _play(tmp_path, names, drives=2)
    assert rc == 0, (report, err)
    [shown] = _results(report, "The command every node would run")
    assert shown["minio__command"] == ["server", "--address", ":9000", "--console-address", ":9001",
                                       "http://minio{1...4}.example.internal:9000/data{1...2}"]


def test_precheck_refuses_names_that_are_not_one_range(tmp_path):
    names = ["minio1.example.internal", "minio2.example.internal", "minio3.example.internal", "storage.example.internal"]
    rc, report, err = _play(tmp_path, names)
    assert rc != 0
    [refusal] = _results(report, "Refuse MinIO host names that cannot be one server-pool range")
    assert refusal["failed"]
    assert f"The MinIO hosts {', '.join(names)} cannot be written as one MinIO host range" in refusal["msg"]
    assert "Fix: rename the hosts so their names count up, e.g. minio1..minio4" in refusal["msg"]
    assert not _results(report, "The command every node would run")


def test_preflight_includes_the_minio_precheck():
    import yaml

    tasks = yaml.safe_load((ROOT / "roles/preflight/tasks/main.yml").read_text())
    includes = [t["ansible.builtin.include_role"] for t in tasks if "ansible.builtin.include_role" in t]
    assert {"name": "minio", "tasks_from": "precheck"} in includes
    specs = yaml.safe_load((ROOT / "roles/minio/meta/argument_specs.yml").read_text())["argument_specs"]
    assert set(specs["precheck"]["options"]) == {"minio_all_in_one_nodes", "minio_drives_per_node"}
