"""Where the driver finds its Ansible content, and where its default inventories (and so its writes) live.

Two layouts, told apart by whether the package carries `_ansible/`:
- Installed from a wheel: roles/, playbooks/, ansible.cfg, requirements.yml, lab/, templates/, the
  seed of inventory/local and inventory/sample (whose group_vars `init` copies) ship inside the package as clearstack/_ansible/ (setup.py copies them in at
  build time) and are found with importlib.resources, as kolla-ansible finds its share directory. The
  driver never writes there: its default inventories are in the user's state directory
  ($XDG_STATE_HOME/clearstack, else ~/.local/state/clearstack), inventory/local copied from the
  package on first use.
- An editable checkout (scripts/bootstrap.sh): the package has no _ansible/; the content is the
  checkout's own top-level directories, read in place, and the default inventories are the checkout's
  inventory/local and inventory/lab (what the driver writes next to them is git-ignored).

Everything the driver writes goes next to the inventory it runs on (the secret store, the run lock,
clearml.conf, a lab's hosts.yml and key pair) or into a private temporary run directory: so with an
explicit -i / --dir nothing lands in either tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CONTENT_DIR = "_ansible"  # inside the installed package
STATE_SUBDIR = "clearstack"


@dataclass(frozen=True)
class Layout:
    content: Path  # holds roles/, playbooks/, ansible.cfg, lab/ ...
    installed: bool  # from a wheel (content inside the package), not a checkout
    state: Path  # the user's state directory for clearstack

    @property
    def default_inventory(self) -> Path:
        return (self.state if self.installed else self.content) / "inventory" / "local"

    @property
    def default_lab_dir(self) -> Path:
        return (self.state if self.installed else self.content) / "inventory" / "lab"


def state_dir(env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    """$XDG_STATE_HOME/clearstack; the XDG base directory spec ignores a relative XDG_STATE_HOME."""
    base = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = str((home or Path.home()) / ".local" / "state")
    return Path(base) / STATE_SUBDIR


def find_layout(package_dir: Path, env: Mapping[str, str] = os.environ, home: Path | None = None) -> Layout:
    packaged = package_dir / CONTENT_DIR
    if packaged.is_dir():
        return Layout(content=packaged, installed=True, state=state_dir(env, home))
    # driver/clearstack/ of a checkout: the content is two levels up.
    return Layout(content=package_dir.resolve().parents[1], installed=False, state=state_dir(env, home))


# A package installed on disk (wheel or editable): files() is its directory.
LAYOUT = find_layout(Path(str(resources.files(__package__))))
CONTENT_ROOT = LAYOUT.content
PLAYBOOKS = CONTENT_ROOT / "playbooks"
ANSIBLE_CFG = CONTENT_ROOT / "ansible.cfg"
LAB_RECIPE = CONTENT_ROOT / "lab"
TEMPLATES = CONTENT_ROOT / "templates"
DEFAULT_INVENTORY = LAYOUT.default_inventory
DEFAULT_LAB_DIR = LAYOUT.default_lab_dir


def ensure_default_inventory(layout: Layout = LAYOUT) -> Path:
    """The default inventory, made on first use when installed: a copy of the packaged inventory/local in
    the state directory, so its secrets, run lock and clearml.conf are written there and the user may edit
    it. An existing one is never replaced. In a checkout it is the checkout's own."""
    target = layout.default_inventory
    if not layout.installed or target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Copied beside it and renamed into place: two first runs at once cannot leave a half copy.
    staging = Path(tempfile.mkdtemp(prefix=".local-", dir=target.parent))
    try:
        shutil.copytree(layout.content / "inventory" / "local", staging / "local")
        try:
            os.rename(staging / "local", target)
        except OSError:
            if not target.is_dir():  # not the other run's copy: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
