"""Every role keeps its promises to users: declared variables, matching defaults, fresh docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
# The one home of the values several roles share: no tasks of its own, so no Molecule scenario (every
# scenario runs it), and its variables are named after what they describe, not after this role.
SHARED = ROOT / "roles/clearstack_defaults"


def _specs(role: Path) -> dict:
    return yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"].get("options", {})


def _defaults(role: Path) -> dict:
    path = role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_files(role):
    for rel in ("meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml", "README.md"):
        assert (role / rel).exists(), f"{role.name}: missing {rel}"
    if role != SHARED:
        assert (ROOT / "molecule" / role.name / "molecule.yml").exists(), f"{role.name}: no Molecule scenario"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_declared_with_the_same_value(role):
    specs, defaults = _specs(role), _defaults(role)
    undeclared = set(defaults) - set(specs)
    assert not undeclared, f"{role.name}: defaults not in argument_specs: {sorted(undeclared)}"
    for name, value in defaults.items():
        if "default" in specs[name]:
            assert specs[name]["default"] == value, f"{role.name}: {name} default differs between defaults/ and specs"
        assert specs[name].get("description"), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_variables_are_prefixed_with_the_role_name(role):
    prefixes = ("clearml_", "minio_") if role == SHARED else (role.name + "_",)
    bad = [name for name in _specs(role) if not name.startswith(prefixes)]
    assert not bad, f"{role.name}: variables without the role prefix: {bad}"


def test_role_readme_variable_tables_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/role_docs.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _literals(value: object) -> str:
    return yaml.safe_dump(value) if value is not None else ""


@pytest.mark.parametrize("role", [r for r in ROLES if r != SHARED], ids=lambda p: p.name)
def test_no_role_restates_a_shared_value(role):
    """A port, path or address several roles need lives in clearstack_defaults only: no other role
    declares one of its variables, or writes one of its values (8008, /opt/clearml, ...) into its own
    defaults, where it would stay behind when the inventory changes the shared one."""
    import re

    shared = _defaults(SHARED)
    declared = (set(_specs(role)) | set(_defaults(role))) & set(shared)
    assert not declared, f"{role.name} declares shared variables {sorted(declared)} (their home is clearstack_defaults)"
    literals = [str(v) for v in shared.values() if "{{" not in str(v)]
    text = _literals(_defaults(role)) + _literals({k: s.get("default") for k, s in _specs(role).items()})
    restated = [v for v in literals if re.search(rf"(?<![\w/]){re.escape(v)}(?![\w])", text)]
    assert not restated, f"{role.name} restates shared values {restated}: derive them from clearstack_defaults"


def _plays(path: Path) -> list[dict]:
    return [play for play in yaml.safe_load(path.read_text()) if "hosts" in play]


@pytest.mark.parametrize("playbook", sorted((ROOT / "playbooks").glob("*.yml")), ids=lambda p: p.name)
def test_every_play_lists_the_shared_defaults_first(playbook):
    for play in _plays(playbook):
        roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
        assert roles[:1] == ["clearstack_defaults"], f"{playbook.name}: play {play['name']!r} starts with {roles[:1]}"


# ---- prechecks: each later role's read-only checks, included by preflight ----------------------------------

CHECKED_ROLES = [ROOT / "roles" / name for name in
                 ("kernel", "clearml_dirs", "docker", "minio", "clearml_server", "clearml_client")]


def _all_specs(role: Path) -> dict:
    return yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]


def _credentials() -> set[str]:
    """Every option any role marks no_log or required: the secrets the driver passes."""
    return {name for role in ROLES for entry in _all_specs(role).values() for name, opt in
            (entry.get("options") or {}).items() if opt.get("no_log") or opt.get("required")}


@pytest.mark.parametrize("role", CHECKED_ROLES, ids=lambda p: p.name)
def test_every_later_role_has_a_precheck_entry_point_preflight_can_template(role):
    """tasks_from precheck with an argument spec: main's options, as they are, minus the credentials. ansible-core
    templates the whole spec at the include, so no default may need a credential, which preflight may not have."""
    assert (role / "tasks/precheck.yml").exists()
    specs = _all_specs(role)
    precheck = specs["precheck"]["options"]
    assert {name: specs["main"]["options"][name] for name in precheck} == precheck
    credentials = _credentials()
    assert not set(precheck) & credentials
    needs = {name: [c for c in credentials if c in str(opt.get("default", ""))] for name, opt in precheck.items()}
    assert {name: found for name, found in needs.items() if found} == {}


def test_preflight_includes_every_precheck_and_reads_no_other_roles_files():
    tasks = (ROOT / "roles/preflight/tasks/main.yml").read_text()
    included = set()
    for task in yaml.safe_load(tasks):
        step = task.get("ansible.builtin.include_role")
        if step and step.get("tasks_from") == "precheck":
            names = task.get("loop") or [step["name"]]
            included |= set(names)
    assert included == {role.name for role in CHECKED_ROLES}
    every_file = "".join(p.read_text() for p in (ROOT / "roles/preflight").rglob("*.yml"))
    assert "role_path" not in every_file
