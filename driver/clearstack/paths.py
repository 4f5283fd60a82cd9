"""Where the project's Ansible content lives, relative to this package (installed editable from the repo)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = PROJECT_ROOT / "playbooks"
ANSIBLE_CFG = PROJECT_ROOT / "ansible.cfg"
DEFAULT_INVENTORY = PROJECT_ROOT / "inventory" / "local"
