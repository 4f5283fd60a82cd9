"""Generated secrets, kept next to the inventory in a 0600 file and reused on every later run.

Nothing here is ever printed or logged; `clearstack credentials --show` is the one way to read them.
A value already stored is never replaced, so a re-run cannot lock the operator out of a running stack.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

import yaml

STORE_DIR = ".clearstack"
STORE_FILE = "secrets.yml"

# name -> generator. Keys look like ClearML's own (upper-case access keys, long secrets).
_ALPHANUM = string.ascii_letters + string.digits


def _token(length: int, alphabet: str = _ALPHANUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


GENERATED = {
    "minio_root_user": lambda: "clearstack-" + _token(8, string.ascii_lowercase + string.digits),
    "minio_root_password": lambda: _token(40),
    "clearml_operator_access_key": lambda: _token(24, string.ascii_uppercase + string.digits),
    "clearml_operator_secret_key": lambda: _token(48),
    "clearml_agent_access_key": lambda: _token(24, string.ascii_uppercase + string.digits),
    "clearml_agent_secret_key": lambda: _token(48),
    "clearml_web_admin_password": lambda: _token(24),
    # The ClearML server derives its overrides of the stock config's public keys from this one.
    "clearml_server_secret": lambda: _token(64),
}


class SecretStoreError(RuntimeError):
    """The store cannot be read or written safely; the message names the file and the fix."""


def store_path(inventory: Path) -> Path:
    base = inventory if inventory.is_dir() else inventory.parent
    return base / STORE_DIR / STORE_FILE


def load(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretStoreError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SecretStoreError(f"{path} is not a mapping of names to secrets; restore it from your backup")
    return {str(k): str(v) for k, v in data.items()}


def ensure(inventory: Path) -> dict[str, str]:
    """Return every secret, generating (and storing, 0600) only the ones not stored yet."""
    path = store_path(inventory)
    stored = load(path)
    missing = {name: make() for name, make in GENERATED.items() if name not in stored}
    if missing:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        tmp = path.with_suffix(".tmp")
        # Created 0600 before any byte is written, then renamed over: never a readable or half file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump({**stored, **missing}, out, default_flow_style=False)
        os.replace(tmp, path)
    return {**stored, **missing}


def write_vars_file(directory: Path, values: dict[str, str]) -> Path:
    """A 0600 vars file for `ansible-playbook -e @FILE` inside a private run directory."""
    path = directory / "secrets.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(values, out, default_flow_style=False)
    return path
