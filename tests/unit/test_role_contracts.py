"""Every role keeps its promises to users: declared variables, matching defaults, fresh docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())


def _specs(role: Path) -> dict:
    return yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"].get("options", {})


def _defaults(role: Path) -> dict:
    path = role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_files(role):
    for rel in ("meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml", "README.md"):
        assert (role / rel).exists(), f"{role.name}: missing {rel}"
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
    bad = [name for name in _specs(role) if not name.startswith(role.name + "_")]
    assert not bad, f"{role.name}: variables without the role prefix: {bad}"


def test_role_readme_variable_tables_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/role_docs.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_preflight_reads_port_defaults_the_roles_have_as_plain_numbers():
    """Preflight reads the later roles' port defaults from their files, untemplated: each one it names must
    be there, and a number (a template would read as text, and `| int` would make it 0)."""
    import re

    text = (ROOT / "roles/preflight/vars/main.yml").read_text()
    named = set(re.findall(r"preflight_port_defaults\.(\w+)", text))
    defaults = {**_defaults(ROOT / "roles/clearml_server"), **_defaults(ROOT / "roles/minio")}
    assert named >= {"clearml_server_api_port", "clearml_server_web_port", "clearml_server_files_port",
                     "minio_api_port", "minio_console_port"}, named
    for name in named:
        assert isinstance(defaults.get(name), int), f"preflight reads {name}, the roles' default is {defaults.get(name)!r}"