"""The operator's clearml.conf keeps its keys to itself: 0600 on disk, absent from Ansible's output
even with -v and --diff, on the first run and on a re-run that changes a key."""

from __future__ import annotations

import secrets
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from clearstack import secrets as secret_store

ROOT = Path(__file__).resolve().parents[2]


def _run(inventory: Path, vars_file: Path) -> subprocess.CompletedProcess:
    env_path = f"{Path(sys.executable).parent}"
    return subprocess.run(["ansible-playbook", "-v", "--diff", "-i", str(inventory), "-e", f"@{vars_file}",
                           str(ROOT / "playbooks/clearml_client.yml")], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={"PATH": f"{env_path}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                                         "ANSIBLE_FORCE_COLOR": "0", "HOME": str(inventory.parent)})


def test_keys_never_reach_the_output_and_the_file_is_private(tmp_path):
    inventory = tmp_path / "inventory" / "hosts.yml"
    inventory.parent.mkdir()
    inventory.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    # clearstack's own secret store, passed as the driver passes it: under its names, with nothing renaming them.
    keys = secret_store.ensure(inventory)
    vars_file = secret_store.write_vars_file(tmp_path, keys)

    first = _run(inventory, vars_file)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    conf = inventory.parent / "clearml.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert all(keys[name] in conf.read_text() for name in ("clearml_server_operator_access_key",
                                                           "clearml_server_operator_secret_key",
                                                           "minio_root_user", "minio_root_password"))

    used = set(keys.values())
    keys["clearml_server_operator_secret_key"] = secrets.token_urlsafe(30)  # a rotated key: the re-run shows a change
    used.add(keys["clearml_server_operator_secret_key"])
    vars_file.unlink()
    vars_file = secret_store.write_vars_file(tmp_path, keys)
    second = _run(inventory, vars_file)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "changed=1" in second.stdout
    for run in (first, second):
        for value in used:
            assert value not in run.stdout + run.stderr
