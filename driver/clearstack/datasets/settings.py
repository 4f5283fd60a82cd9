"""Where the dataset commands find the ClearML API and the S3 credentials: the clearml.conf that
`clearstack up` writes for the operator next to the inventory (or CLEARML_CONFIG_FILE, else
~/clearml.conf), with the usual CLEARML_* variables taking precedence, as in the ClearML SDK itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clearml.utilities.pyhocon import ConfigFactory

from ..errors import ClearstackError


class SettingsError(ClearstackError, ValueError):
    """Missing or unusable settings; the message says where to put them."""


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str  # host:port
    key: str
    secret: str = ""
    secure: bool = False

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"S3Credentials(endpoint={self.endpoint!r}, key={self.key!r}, secure={self.secure})"


CONFIG_FILE_ENV = "CLEARML_CONFIG_FILE"


def use_inventory_config(inventory: Path) -> None:
    """Point CLEARML_CONFIG_FILE (which the SDK reads too) at <inventory dir>/clearml.conf, where the
    clearml_client role writes it, unless the variable is set or that file does not exist."""
    path = (inventory if inventory.is_dir() else inventory.parent) / "clearml.conf"
    if not os.environ.get(CONFIG_FILE_ENV) and path.is_file():
        os.environ[CONFIG_FILE_ENV] = str(path.resolve())


def config_file() -> Path:
    return Path(os.environ.get(CONFIG_FILE_ENV) or Path.home() / "clearml.conf").expanduser()


def _load_config():
    path = config_file()
    if not path.exists():
        return None
    try:
        return ConfigFactory.parse_file(str(path))
    except Exception as err:  # pyhocon raises several unrelated types
        raise SettingsError(f"cannot read {path}: {err}") from err


def s3_credentials(endpoint: str) -> S3Credentials:
    """The sdk.aws.s3.credentials entry for host:port; the SDK silently drops entries without key/secret."""
    config = _load_config()
    entries = config.get("sdk.aws.s3.credentials", []) if config is not None else []
    for entry in entries:
        if str(entry.get("host", "")) == endpoint:
            if not entry.get("key") or not entry.get("secret"):
                raise SettingsError(f"{config_file()}: the S3 credentials for {endpoint} lack a key or a secret")
            return S3Credentials(endpoint=endpoint, key=str(entry["key"]), secret=str(entry["secret"]),
                                 secure=bool(entry.get("secure", False)))
    raise SettingsError(
        f"no S3 credentials for {endpoint} in {config_file()} (sdk.aws.s3.credentials). `clearstack up` writes "
        f"them; or add {{host: \"{endpoint}\", key: ..., secret: ..., secure: false, multipart: true}}")


def check_api_settings() -> str:
    """The API server URL; fails early, naming the fix, when the ClearML API cannot be configured at all."""
    config = _load_config()
    has_host = os.environ.get("CLEARML_API_HOST") or (config.get("api.api_server", None) if config is not None else None)
    has_keys = (os.environ.get("CLEARML_API_ACCESS_KEY") and os.environ.get("CLEARML_API_SECRET_KEY")) or (
        config is not None and config.get("api.credentials.access_key", None))
    if not has_host or not has_keys:
        raise SettingsError(
            f"no ClearML API settings: {config_file()} lacks api.api_server or api.credentials, and "
            "CLEARML_API_HOST / CLEARML_API_ACCESS_KEY / CLEARML_API_SECRET_KEY are not set. "
            "`clearstack up` writes the file; point CLEARML_CONFIG_FILE at it")
    return str(has_host)
