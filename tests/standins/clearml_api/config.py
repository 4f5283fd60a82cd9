"""The apiserver's settings, assembled as clearml-server assembles them (stdlib only).

clearml-server's apiserver/config/basic.py (read at clearml/clearml-server 0b769d48db8e, 2025-12-26):
every ``*.conf`` under each config directory (``CLEARML_CONFIG_DIR``, ":"-separated, default
``/opt/trains/config:/opt/clearml/config``) is read recursively, keyed by its path without the suffix
(``secure.conf`` -> ``secure``, ``apiserver.conf`` -> ``apiserver``), merged over the defaults; then
every ``CLEARML__a__b__c`` environment variable is merged on top as ``a.b.c`` (lower-cased), its value
parsed as HOCON.

The stand-in differs in one way, and says so when it meets it: it parses a config file only when the
file is JSON with whole-line `#` or `//` comments (valid HOCON, and what clearstack writes);
environment values stay strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_DIR_VARS = ("CLEARML_CONFIG_DIR", "TRAINS_CONFIG_DIR")
DEFAULT_CONFIG_DIRS = "/opt/trains/config:/opt/clearml/config"
# In upstream's order: TRAINS__ first, so CLEARML__ wins.
ENV_PREFIXES = ("TRAINS__", "CLEARML__")


def _merge(into: dict, other: Mapping) -> dict:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
    return into


def _nested(path: list[str], value: object) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[return-value]


def config_dirs(environ: Mapping[str, str]) -> list[Path]:
    """The config directories, as upstream picks them. An explicit test environ without
    CLEARML_CONFIG_DIR reads none: the machine's own /opt/clearml/config must not leak into a test."""
    value = next((environ[v] for v in CONFIG_DIR_VARS if environ.get(v)), None)
    if value is None:
        value = DEFAULT_CONFIG_DIRS if environ is os.environ else ""
    return [Path(p) for p in value.split(":") if p and Path(p).is_dir()]


def load(environ: Mapping[str, str] | None = None) -> dict:
    """The merged settings: config files, then the environment on top."""
    environ = os.environ if environ is None else environ
    config: dict = {}
    for root in config_dirs(environ):
        for file in sorted(root.rglob("*.conf")):
            try:
                data = json.loads("\n".join(line for line in file.read_text().splitlines()
                                             if not line.lstrip().startswith(("#", "//"))))
            except ValueError as ex:
                raise ValueError(f"{file}: the stand-in reads only config files written as JSON "
                                 f"with comment lines (a subset of HOCON): {ex}") from None
            _merge(config, _nested(list(file.relative_to(root).with_suffix("").parts), data))
    for prefix in ENV_PREFIXES:
        for var in sorted(k for k in environ if k.startswith(prefix)):
            _merge(config, _nested(var[len(prefix):].lower().split("__"), environ[var]))
    return config


def section(config: Mapping, *path: str) -> Mapping:
    """config[path...], or {} where any step is missing or not a section."""
    for key in path:
        config = config.get(key) if isinstance(config, Mapping) else None
    return config if isinstance(config, Mapping) else {}
