"""The two ways clearstack ships (docs/packaging.md), built and installed here as a user would:

- the Ansible collection clearstack.platform, built with `ansible-galaxy collection build`, installed into a
  temporary collections path, and applied from a user's own playbook (and as collection playbooks) with no
  checkout on the role path;
- the wheel, built with pip, installed with its dependencies into a fresh venv, and run from a directory
  outside the checkout: its driver finds the playbooks inside the installed package and writes nothing there.

Every host is localhost over `ansible_connection: local` with its paths under tmp_path (clearml_dirs builds its
tree there; kernel runs in check mode against a sysctl file there), or an SSH port on 127.0.0.1 that nothing
answers. The wheel's dependencies come from the package index pip is configured with (as scripts/bootstrap.sh
installs them), so the first run on a machine downloads them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV_BIN = Path(sys.executable).parent
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "main.yml").is_file())
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
COLLECTION = f"{GALAXY['namespace']}.{GALAXY['name']}"
# What a collection tarball may hold at its top level: Ansible content and its docs, nothing of the driver.
COLLECTION_TOP = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "meta", "roles", "playbooks"}
# What clearstack/_ansible/ of the wheel may hold: what the driver reads at run time, none of the tests or tooling.
WHEEL_CONTENT_TOP = {"ansible.cfg", "requirements.yml", "playbooks", "roles", "lab", "templates", "inventory"}
# What the driver writes next to an inventory, and Python's caches: never shipped.
NEVER_SHIPPED = {"__pycache__", ".clearstack", "clearml.conf", "hosts.yml.tmp"}

INSTALL_TIMEOUT_S = 1200  # a fresh venv with ansible, clearml, boto3 ... on 2 shared cores
RUN_TIMEOUT_S = 300


def _run(argv, *, cwd: Path, env: dict, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _clean_env(tmp: Path, bin_dir: Path) -> dict:
    """This machine's environment (proxy, pip settings) without the test venv, any Ansible setting or the
    checkout's Python path; HOME and the XDG state dir in tmp."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != DEV_BIN]
    env["PATH"] = os.pathsep.join([str(bin_dir), *path])
    (tmp / "home").mkdir(exist_ok=True)
    env["HOME"] = str(tmp / "home")
    env["XDG_STATE_HOME"] = str(tmp / "state")
    return env


# The first task of the `probe` entry point of the minio role, which verify.yml reaches by include_role.
FIRST_PROBE_TASK = yaml.safe_load((ROOT / "roles" / "minio" / "tasks" / "probe.yml").read_text())[0]["name"]


def _unanswered_host_inventory(path: Path) -> Path:
    """One host in both groups whose SSH port on 127.0.0.1 nothing answers: a run reaches it only after every
    playbook and role it names was found and loaded, and then stops there, changing nothing anywhere."""
    path.mkdir(parents=True)
    (path / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"target": {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh"}},
        "children": {"clearml_server": {"hosts": {"target": None}}, "minio": {"hosts": {"target": None}}}}}))
    return path


# ---- the collection ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """The tarball built from the checkout, installed into a collections path of its own."""
    tmp = tmp_path_factory.mktemp("collection")
    env = _clean_env(tmp, DEV_BIN)
    env["ANSIBLE_CONFIG"] = str(tmp / "ansible.cfg")  # none of the checkout's settings
    (tmp / "ansible.cfg").write_text("[defaults]\n")
    env["ANSIBLE_ROLES_PATH"] = str(tmp / "no-roles")  # the checkout's roles/ must not be what resolves
    _ok(_run([DEV_BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp / "dist", ROOT], cwd=tmp, env=env))
    tarball = next((tmp / "dist").glob(f"{GALAXY['namespace']}-{GALAXY['name']}-*.tar.gz"))
    collections = tmp / "collections"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    _ok(_run([DEV_BIN / "ansible-galaxy", "collection", "install", "-p", collections, tarball], cwd=tmp, env=env))
    return {"tmp": tmp, "tarball": tarball, "env": env,
            "installed": collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]}


def test_the_collection_tarball_carries_only_the_ansible_content(collection):
    with tarfile.open(collection["tarball"]) as tar:
        names = tar.getnames()
    assert {name.split("/", 1)[0] for name in names} <= COLLECTION_TOP
    for role in ROLES:
        assert f"roles/{role}/tasks/main.yml" in names and f"roles/{role}/meta/argument_specs.yml" in names
    assert {p.name for p in (ROOT / "playbooks").glob("*.yml")} == \
        {n.removeprefix("playbooks/") for n in names if n.startswith("playbooks/") and n.endswith(".yml")}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/.clearstack" in n]
    manifest = json.loads((collection["installed"] / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == (GALAXY["namespace"], GALAXY["name"])


def test_a_user_playbook_applies_the_roles_of_the_installed_collection(collection):
    tmp, env = collection["tmp"], collection["env"]
    data_root, sysctl_file = tmp / "data" / "clearml", tmp / "sysctl.d" / "99-clearml.conf"
    (tmp / "inventory.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "children": {"clearml_server": {"hosts": {"localhost": None}}}}}))
    # As docs/packaging.md shows it: clearstack_defaults first in every play, then the roles by their FQCN.
    (tmp / "user.yml").write_text(yaml.safe_dump([
        {"name": "ClearML data tree", "hosts": "clearml_server", "gather_facts": False,
         "roles": [f"{COLLECTION}.clearstack_defaults", f"{COLLECTION}.clearml_dirs"]},
        {"name": "Kernel settings, dry run", "hosts": "clearml_server", "gather_facts": False, "check_mode": True,
         "roles": [f"{COLLECTION}.clearstack_defaults", f"{COLLECTION}.kernel"]},
    ], sort_keys=False))
    extra = ["-e", json.dumps({"clearml_data_root": str(data_root), "clearml_dirs_owner": os.getuid(),
                               "clearml_dirs_group": os.getgid(), "kernel_sysctl_file": str(sysctl_file)})]
    play = [DEV_BIN / "ansible-playbook", "-i", tmp / "inventory.yml", "user.yml", *extra]
    env = {**env, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}

    first = _changed_tasks(_ok(_run(play, cwd=tmp, env=env)))
    assert f"{COLLECTION}.clearml_dirs : Create the ClearML data tree under {data_root}" in first["ClearML data tree"]
    assert (data_root / "data" / "elastic_7").is_dir() and (data_root / "logs").is_dir()
    assert first["Kernel settings, dry run"]  # the sysctl file would be written ...
    assert not sysctl_file.exists()  # ... but check mode wrote nothing
    second = _changed_tasks(_ok(_run(play, cwd=tmp, env=env)))
    assert second["ClearML data tree"] == []


def _changed_tasks(proc: subprocess.CompletedProcess) -> dict[str, list[str]]:
    """Play name -> the tasks that reported changed, from the json callback's output."""
    report = json.loads(proc.stdout)
    return {play["play"]["name"]: [task["task"]["name"] for task in play["tasks"]
                                   if any(host.get("changed") for host in task["hosts"].values())]
            for play in report["plays"]}


def test_the_playbooks_run_as_collection_playbooks(collection):
    tmp, env = collection["tmp"], collection["env"]
    inventory = tmp / "inventory-both.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "children": {"clearml_server": {"hosts": {"localhost": None}}, "minio": {"hosts": {"localhost": None}}}}}))
    # site.yml imports every layer's playbook, each of which names its roles without the collection.
    syntax = _ok(_run([DEV_BIN / "ansible-playbook", "-i", inventory, f"{COLLECTION}.site", "--syntax-check"],
                      cwd=tmp, env=env))
    assert str(collection["installed"] / "playbooks" / "site.yml") in syntax.stdout
    data_root = tmp / "data-from-playbook"
    run = _ok(_run([DEV_BIN / "ansible-playbook", "-i", inventory, f"{COLLECTION}.clearml_dirs", "-e",
                    json.dumps({"clearml_data_root": str(data_root), "clearml_dirs_owner": os.getuid(),
                                "clearml_dirs_group": os.getgid()})], cwd=tmp, env=env))
    assert f"{COLLECTION}.clearml_dirs : Create the ClearML data tree" in run.stdout
    assert (data_root / "data" / "mongo_4" / "db").is_dir()
    # verify.yml reaches the roles' entry points by include_role (tasks_from), resolved when the play runs.
    verify = _run([DEV_BIN / "ansible-playbook", "-i", _unanswered_host_inventory(tmp / "unanswered"),
                   f"{COLLECTION}.verify"], cwd=tmp, env=env)
    assert verify.returncode == 4, verify.stdout[-3000:]  # 4: a host unreachable
    assert f"TASK [{COLLECTION}.minio : {FIRST_PROBE_TASK}]" in verify.stdout


# ---- the wheel -----------------------------------------------------------------------------------

def _package_files(venv: Path) -> dict[str, int]:
    """Every file of the installed package with its mtime (Python's own __pycache__ aside)."""
    package = next(venv.glob("lib/python*/site-packages/clearstack"))
    return {str(p.relative_to(package)): p.stat().st_mtime_ns for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from a copy of the checkout (the build writes build/ and egg-info into its source), and a
    fresh venv with it and its dependencies installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = _clean_env(tmp, DEV_BIN)
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".ruff_cache", ".ansible",
        ".cache", ".clearstack", "clearml.conf"))
    shutil.rmtree(source / "inventory" / "lab", ignore_errors=True)  # a lab's inventory, if one is up
    _ok(_run([DEV_BIN / "pip", "wheel", "--no-deps", "-w", tmp / "dist", source], cwd=tmp, env=env,
             timeout=INSTALL_TIMEOUT_S))
    built = next((tmp / "dist").glob("clearstack-*.whl"))
    venv = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], cwd=tmp, env=env))
    # --no-compile: bytecode for ansible's thousands of modules is most of the time, and changes nothing here.
    _ok(_run([venv / "bin" / "pip", "install", "--no-compile", built], cwd=tmp, env=_clean_env(tmp, venv / "bin"),
             timeout=INSTALL_TIMEOUT_S))
    return {"tmp": tmp, "wheel": built, "venv": venv, "env": _clean_env(tmp, venv / "bin")}


def test_the_wheel_carries_the_ansible_content_and_nothing_of_the_tests(wheel):
    with zipfile.ZipFile(wheel["wheel"]) as whl:
        names = whl.namelist()
    content = "clearstack/_ansible/"
    for path in ("ansible.cfg", "requirements.yml", "playbooks/site.yml", "playbooks/verify.yml", "lab/host.yml",
                 "lab/build-host-image.sh", "inventory/local/hosts.yml", "inventory/local/group_vars/all/connection.yml",
                 "inventory/sample/group_vars/all/minio.yml", "templates/site/hosts.yml.j2", "templates/lab/hosts.yml.j2"):
        assert content + path in names
    for role in ROLES:
        assert f"{content}roles/{role}/tasks/main.yml" in names
    assert {n.split("/", 1)[0] for n in names} == {"clearstack", wheel["wheel"].name.split("-py3")[0] + ".dist-info"}
    shipped = [n.removeprefix(content).split("/") for n in names if n.startswith(content)]
    assert {parts[0] for parts in shipped} <= WHEEL_CONTENT_TOP
    assert {parts[1] for parts in shipped if parts[0] == "inventory"} == {"local", "sample"}  # seed and sample, no site
    assert not [parts for parts in shipped if NEVER_SHIPPED & set(parts) or parts[-1].endswith(".pyc")]


def test_the_installed_clearstack_runs_its_playbooks_from_outside_the_checkout(wheel):
    tmp, env, venv = wheel["tmp"], wheel["env"], wheel["venv"]
    work = tmp / "elsewhere"
    work.mkdir()
    _ok(_run([venv / "bin" / "clearstack", "--help"], cwd=work, env=env))
    where = _ok(_run([venv / "bin" / "python", "-c", "from clearstack import paths; print(paths.PLAYBOOKS)"],
                     cwd=work, env=env)).stdout.strip()
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT / "playbooks")

    # site.yml with every playbook it imports and every role they name, loaded from the package.
    inventory = _unanswered_host_inventory(work / "site")
    before = _package_files(venv)
    check = _run([venv / "bin" / "clearstack", "check", "-i", inventory, "--json"], cwd=work, env=env)
    assert check.returncode == 1, check.stderr
    result = json.loads(check.stdout)
    assert result["hosts"].get("target", {}).get("unreachable") == 1, check.stdout[-3000:] + check.stderr[-3000:]
    assert result["stopped_by_preflight"] is True
    assert "could not be found" not in check.stdout + check.stderr
    # What the run wrote is next to the inventory; the installed package is as pip left it.
    assert (inventory / ".clearstack" / "secrets.yml").is_file()
    # verify.yml's include_role of the minio role's probe entry point, resolved in the package too.
    verify = _run([venv / "bin" / "clearstack", "verify", "-i", inventory, "--json"], cwd=work, env=env)
    assert verify.returncode == 1, verify.stderr
    assert json.loads(verify.stdout)["hosts"]["target"]["failed_tasks"][0][0] == FIRST_PROBE_TASK
    assert _package_files(venv) == before


def test_the_installed_default_inventory_is_in_the_state_dir_not_the_package(wheel):
    tmp, env, venv = wheel["tmp"], wheel["env"], wheel["venv"]
    before = _package_files(venv)
    shown = json.loads(_ok(_run([venv / "bin" / "clearstack", "credentials", "--json"], cwd=tmp, env=env)).stdout)
    state_inventory = tmp / "state" / "clearstack" / "inventory" / "local"
    assert shown["secrets_file"] == str(state_inventory / ".clearstack" / "secrets.yml")
    assert shown["clearml_conf"] == str(state_inventory / "clearml.conf")
    assert (state_inventory / "hosts.yml").read_text() == (ROOT / "inventory" / "local" / "hosts.yml").read_text()
    lab_help = _ok(_run([venv / "bin" / "clearstack", "lab", "up", "--help"], cwd=tmp,
                        env={**env, "COLUMNS": "400"})).stdout  # one line per option: no path cut at a hyphen
    assert f"(default {tmp / 'state' / 'clearstack' / 'inventory' / 'lab'})" in lab_help
    assert _package_files(venv) == before


def test_the_installed_init_writes_a_site_inventory_from_the_packaged_templates(wheel):
    """templates/site/hosts.yml.j2 and inventory/sample's group_vars come from the package, not a checkout."""
    tmp, env, venv = wheel["tmp"], wheel["env"], wheel["venv"]
    before = _package_files(venv)
    work = tmp / "init-elsewhere"
    work.mkdir()
    _ok(_run([venv / "bin" / "clearstack", "init", "site", "--all-in-one", "box.example.internal=192.0.2.20"],
             cwd=work, env=env))
    groups = yaml.safe_load((work / "site" / "hosts.yml").read_text())["all"]["children"]
    assert list(groups["minio"]["hosts"]) == ["box.example.internal"]
    assert sorted(p.name for p in (work / "site" / "group_vars" / "all").iterdir()) == \
        sorted(p.name for p in (ROOT / "inventory" / "sample" / "group_vars" / "all").iterdir())
    assert _package_files(venv) == before
