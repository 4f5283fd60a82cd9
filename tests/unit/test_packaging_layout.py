"""The packaging files agree with each other and with what the driver reads (docs/packaging.md); the builds
themselves run in tests/integration/test_packaging.py."""

import ast
import fnmatch
import subprocess
import tomllib
from pathlib import Path

import yaml

from clearstack import paths

ROOT = Path(__file__).resolve().parents[2]


def _setup_constants() -> dict:
    """The literal constants of setup.py, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("ANSIBLE_CONTENT", "CONTENT_DIR")}


def test_the_collection_and_the_wheel_carry_one_version_and_the_roles_namespace():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert galaxy["version"] == project["version"]
    namespaces = {yaml.safe_load(p.read_text())["galaxy_info"]["namespace"] for p in ROOT.glob("roles/*/meta/main.yml")}
    assert namespaces == {galaxy["namespace"]}


def test_the_wheel_build_copies_everything_the_driver_reads_and_the_sdist_carries_it():
    setup = _setup_constants()
    read_by_driver = {paths.PLAYBOOKS, paths.ANSIBLE_CFG, paths.LAB_RECIPE, paths.TEMPLATES,
                      paths.CONTENT_ROOT / "inventory" / "local"}
    copied = {paths.CONTENT_ROOT / name for name in setup['ANSIBLE_CONTENT']}
    assert read_by_driver <= copied
    assert setup['CONTENT_DIR'] == f"clearstack/{paths.CONTENT_DIR}"
    manifest = (ROOT / "MANIFEST.in").read_text().split()
    for name in setup['ANSIBLE_CONTENT']:
        assert name in manifest, f"MANIFEST.in leaves {name} out of the sdist"


def test_the_collection_leaves_out_every_tracked_top_level_entry_but_the_ansible_content():
    """A new top-level directory goes into the collection tarball unless galaxy.yml's build_ignore names it."""
    ignored = [*yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"], "galaxy.yml"]  # never packed
    kept = {"roles", "playbooks", "meta", "README.md", "CHANGELOG.md"}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top = {line.split("/", 1)[0] for line in tracked.splitlines()}
    assert kept <= top
    assert {name for name in top - kept if not any(fnmatch.fnmatch(name, pattern) for pattern in ignored)} == set()
