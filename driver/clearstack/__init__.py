"""clearstack: a self-hosted ClearML server and a four-node MinIO cluster from an Ansible inventory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clearstack")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
