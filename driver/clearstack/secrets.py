"""Generated secrets, kept next to the inventory in a 0600 file and reused on every later run.

Nothing here is ever printed or logged; `clearstack credentials --show` is the one way to read them.
A value already stored is never replaced, so a re-run cannot lock the operator out of a running stack.
Each secret has one name: the role variable that uses it (as kolla-ansible's passwords.yml), so the store
is passed to Ansible as it is, with no file that renames it.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import sys
import tempfile
from pathlib import Path

import yaml

from .errors import ClearstackError
from .paths import CONTENT_ROOT

STORE_DIR = ".clearstack"
STORE_FILE = "secrets.yml"

# role variable -> generator. Keys look like ClearML's own (upper-case access keys, long secrets).
_ALPHANUM = string.ascii_letters + string.digits


def _token(length: int, alphabet: str = _ALPHANUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


GENERATED = {
    "minio_root_user": lambda: "clearstack-" + _token(8, string.ascii_lowercase + string.digits),
    "minio_root_password": lambda: _token(40),
    "clearml_server_operator_access_key": lambda: _token(24, string.ascii_uppercase + string.digits),
    "clearml_server_operator_secret_key": lambda: _token(48),
    "clearml_server_agent_access_key": lambda: _token(24, string.ascii_uppercase + string.digits),
    "clearml_server_agent_secret_key": lambda: _token(48),
    "clearml_server_web_password": lambda: _token(24),
    # The ClearML server derives its overrides of the stock config's public keys from this one.
    "clearml_server_internal_secret": lambda: _token(64),
}

# The names a store written by an older clearstack uses (renamed onto the role variables by a vars file
# then): load() renames them in place, keeping every value.
RENAMED = {
    "clearml_operator_access_key": "clearml_server_operator_access_key",
    "clearml_operator_secret_key": "clearml_server_operator_secret_key",
    "clearml_agent_access_key": "clearml_server_agent_access_key",
    "clearml_agent_secret_key": "clearml_server_agent_secret_key",
    "clearml_web_admin_password": "clearml_server_web_password",
    "clearml_server_secret": "clearml_server_internal_secret",
}


class SecretStoreError(ClearstackError, RuntimeError):
    """The store cannot be read or written safely; the message names the file and the fix."""


# The shortest root password MinIO starts with, from the minio role's vars (its one home).
MINIO_MIN_PASSWORD = int(yaml.safe_load((CONTENT_ROOT / "roles/minio/vars/main.yml").read_text())
                         ["minio__root_password_min_length"])
# Passwords MinIO or tutorials ship with: the first thing anyone tries.
_WELL_KNOWN = {"minioadmin", "password", "changeme", "12345678", "123456789", "qwertyui", "admin123", "clearstack"}


def password_weakness(value: object, user: object = None) -> str | None:
    """Why a MinIO root password is too weak, or None when it is fit."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if len(value) < MINIO_MIN_PASSWORD:
        return f"has {len(value)} characters; MinIO needs at least {MINIO_MIN_PASSWORD}"
    if value.lower() in _WELL_KNOWN or value == user:
        return "is a well-known password" if value != user else "is the same as minio_root_user"
    if len(set(value)) < 5:
        return f"uses only {len(set(value))} different characters"
    return None


def _inventory_files(inventory: Path) -> list[Path]:
    """The files Ansible reads variables from for this inventory (the store excluded)."""
    if inventory.is_dir():
        return sorted(p for p in inventory.rglob("*") if p.is_file() and STORE_DIR not in p.parts)
    around = [inventory.parent / "group_vars", inventory.parent / "host_vars"]
    return [inventory, *sorted(p for d in around if d.is_dir() for p in d.rglob("*") if p.is_file())]


def _values_in(node: object, name: str) -> list[object]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == name] + [x for v in node.values() for x in _values_in(v, name)]
    if isinstance(node, list):
        return [x for v in node for x in _values_in(v, name)]
    return []


def refuse_inventory_secrets(inventory: Path, store: Path) -> None:
    """Refuse a generated secret set in the inventory: the store's value, passed as an extra var, would
    override it, so the operator's value would silently not be used (and a weak one is refused anyway)."""
    for path in _inventory_files(inventory):
        text = path.read_text(errors="replace")
        for name in (n for n in GENERATED if n in text):
            try:  # YAML inventories and vars files; an INI line or a vaulted value only names the variable
                values = _values_in(yaml.safe_load(text), name)
                if not values:  # a comment or a longer name
                    continue
            except yaml.YAMLError:
                values = []
                if not re.search(rf"(^|\s){name}\s*[:=]", text, re.MULTILINE):
                    continue
            weak = [w for v in values if name == "minio_root_password" and not (isinstance(v, str) and "{{" in v)
                    for w in [password_weakness(v)] if w]
            why = f"is too weak: it {weak[0]}" if weak else "would not be used"
            raise SecretStoreError(
                f"{name} is set in {path} and {why}. clearstack generates it and passes the value kept in {store}, "
                f"which overrides the inventory's. Fix: remove {name} from {path}; to choose it yourself, put it in "
                f"{store} instead" + (f" (at least {MINIO_MIN_PASSWORD} characters, not a well-known password)"
                                      if name == "minio_root_password" else "") + ".")


def store_path(inventory: Path) -> Path:
    base = inventory if inventory.is_dir() else inventory.parent
    return base / STORE_DIR / STORE_FILE


def _write(path: Path, data: dict) -> None:
    """Replace the store atomically: a 0600 file beside it (mkstemp's mode, set before any byte is written)
    renamed over it, so there is never a readable or half-written store."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(data, out, default_flow_style=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _migrate(path: Path, data: dict) -> dict:
    """Rename the old names of a store onto the role variables, in place; refuse, before anything is
    written, a store that holds an old and a new name with different values (which one is in use?)."""
    old = [name for name in RENAMED if name in data]
    if not old:
        return data
    clash = [f"{name} and {new}" for name in old for new in [RENAMED[name]] if new in data and data[new] != data[name]]
    if clash:
        raise SecretStoreError(f"{path} holds {', '.join(clash)} with different values: the first is the name an older "
                               "clearstack used, the second today's, and only one can be the one the running stack "
                               f"uses. Nothing was changed. Fix: edit {path} and delete the line whose value the "
                               "running stack does not use.")
    migrated = {RENAMED.get(name, name): value for name, value in data.items()}
    _write(path, migrated)
    # Names only, never a value; printed once: the rewritten store has no old name left.
    print(f"clearstack: renamed {len(old)} secrets in {path} to the role variables that use them "
          f"({', '.join(f'{name} -> {RENAMED[name]}' for name in old)}); every value is kept.", file=sys.stderr)
    return migrated


def load(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretStoreError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SecretStoreError(f"{path} is not a mapping of names to secrets; restore it from your backup")
    data = _migrate(path, data)
    return {str(k): str(v) for k, v in data.items()}


def ensure(inventory: Path) -> dict[str, str]:
    """Return every secret, generating (and storing, 0600) only the ones not stored yet."""
    path = store_path(inventory)
    stored = load(path)
    refuse_inventory_secrets(inventory, path)
    if "minio_root_password" in stored:
        weak = password_weakness(stored["minio_root_password"], stored.get("minio_root_user"))
        if weak:
            raise SecretStoreError(f"minio_root_password in {path} is too weak: it {weak}. Fix: edit {path} to "
                                   f"give it at least {MINIO_MIN_PASSWORD} characters (not a well-known password), "
                                   "or delete that line to have a strong one generated.")
    missing = {name: make() for name, make in GENERATED.items() if name not in stored}
    if missing:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        _write(path, {**stored, **missing})
    return {**stored, **missing}


def write_vars_file(directory: Path, values: dict[str, str]) -> Path:
    """A 0600 vars file for `ansible-playbook -e @FILE` inside a private run directory."""
    path = directory / "secrets.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(values, out, default_flow_style=False)
    return path
