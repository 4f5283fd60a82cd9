"""The clearml_server role's compose project, rendered on the controller: Compose accepts it, it keeps
upstream's services, ports, bind mounts and environment (differences listed in
upstream/clearml_server_compose.yml), its secrets stay in 0600 files, and bad input is refused before
anything is written."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testhosts import ROOT, playbook_env

UPSTREAM = yaml.safe_load((Path(__file__).parent / "upstream/clearml_server_compose.yml").read_text())
RENDER = ROOT / "tests/integration/playbooks/render_clearml_server.yml"


def _secrets() -> dict[str, str]:
    return {
        "clearml_server_operator_access_key": secrets.token_hex(12).upper(),
        "clearml_server_operator_secret_key": secrets.token_urlsafe(36).replace("-", "x").replace("_", "y"),
        "clearml_server_agent_access_key": secrets.token_hex(12).upper(),
        "clearml_server_agent_secret_key": secrets.token_urlsafe(36).replace("-", "x").replace("_", "y"),
        "clearml_server_web_password": secrets.token_hex(12),
        "clearml_server_internal_secret": secrets.token_hex(32),
    }


def _render(tmp: Path, extra: dict) -> tuple[subprocess.CompletedProcess, Path]:
    project = tmp / "compose"
    inventory = tmp / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": {"clearml-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    values = tmp / "vars.yml"
    values.write_text(yaml.safe_dump({"clearml_server_project_dir": str(project), **extra}))
    values.chmod(0o600)
    proc = subprocess.run(["ansible-playbook", "-v", "--diff", "-i", str(inventory), "-e", f"@{values}", str(RENDER)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=playbook_env())
    return proc, project


def _compose_config(project: Path) -> dict:
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode:
        if os.environ.get("CLEARSTACK_REQUIRE_DOCKER"):
            pytest.fail("`docker compose` (Compose v2) is missing: scripts/bootstrap.sh --test installs it")
        pytest.skip("`docker compose` (Compose v2) is not installed")
    quiet = subprocess.run(["docker", "compose", "--project-directory", str(project), "config", "-q"],
                           capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    full = subprocess.run(["docker", "compose", "--project-directory", str(project), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(full.stdout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clearml-compose")
    values = _secrets()
    proc, project = _render(tmp, values)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return values, proc, project, _compose_config(project)


def _bind_mounts(service: dict) -> set[str]:
    return {f"{v['source']}:{v['target']}" for v in service.get("volumes", []) if v["type"] == "bind"}


def _ports(service: dict) -> set[str]:
    return {f"{p['published']}:{p['target']}" for p in service.get("ports", [])}


def test_compose_accepts_the_file_and_keeps_upstream_services(rendered):
    _, _, _, config = rendered
    upstream = set(UPSTREAM["services"]) - {"agent-services"}  # optional, off by default
    assert set(config["services"]) == upstream


@pytest.mark.parametrize("name", [s for s in UPSTREAM["services"] if s != "agent-services"])
def test_each_service_keeps_upstream_ports_mounts_environment_and_command(rendered, name):
    _, _, _, config = rendered
    ours, theirs = config["services"][name], UPSTREAM["services"][name]
    assert ours["container_name"] == theirs["container_name"]
    assert _ports(ours) == set(theirs["ports"])
    assert _bind_mounts(ours) == set(theirs["volumes"])
    assert set(theirs["environment"]) <= set(ours.get("environment", {}))
    for key in ("command", "entrypoint"):
        assert ours.get(key) == theirs.get(key), key
    if "ulimits" in theirs:
        assert {k: v["hard"] for k, v in ours["ulimits"].items()} == theirs["ulimits"]


def test_differences_are_only_the_listed_ones(rendered):
    _, _, _, config = rendered
    for name, service in config["services"].items():
        assert service["healthcheck"]["test"], name
        assert ":latest" not in service["image"] and ":" in service["image"], service["image"]
        extra = set(service.get("environment", {})) - set(UPSTREAM["services"][name]["environment"])
        # Only what the 0600 env file adds: credentials, the stock-key overrides and the web login.
        assert all(k.startswith(("CLEARML__secure__", "CLEARML__apiserver__auth__fixed_users__")) for k in extra), extra
    assert config["services"]["mongo"]["image"] == "mongo:7.0.22"
    assert config["services"]["apiserver"]["image"] == "clearml/server:2.4.0"


def test_stock_public_keys_are_overridden_and_the_web_login_is_fixed(rendered):
    values, _, _, config = rendered
    env = config["services"]["apiserver"]["environment"]
    for user in ("apiserver", "fileserver", "webserver", "tests", "services_agent", "clearstack"):
        key, secret = env[f"CLEARML__secure__credentials__{user}__user_key"], env[f"CLEARML__secure__credentials__{user}__user_secret"]
        # HOCON strings: quoted, at least 24 characters inside the quotes.
        assert key.startswith('"') and key.endswith('"') and len(key) >= 26, user
        assert secret.startswith('"') and len(secret) >= 34, user
    assert env["CLEARML__secure__credentials__clearstack__user_key"] == f'"{values["clearml_server_operator_access_key"]}"'
    assert env["CLEARML__apiserver__auth__fixed_users__enabled"] == "true"
    users = json.loads(env["CLEARML__apiserver__auth__fixed_users__users"])
    assert users == [{"username": "admin", "password": values["clearml_server_web_password"], "name": "admin"}]
    # Every installation gets its own derived keys: nothing here is the same across two secrets.
    assert len({env[k] for k in env if k.endswith("__user_key")}) == 6


def test_secrets_stay_in_the_0600_env_file(rendered):
    values, proc, project, _ = rendered
    assert stat.S_IMODE(project.stat().st_mode) == 0o700
    assert stat.S_IMODE((project / "clearml-server.env").stat().st_mode) == 0o600
    compose_text = (project / "docker-compose.yml").read_text()
    env_text = (project / "clearml-server.env").read_text()
    for value in values.values():
        assert value not in compose_text
        assert value not in proc.stdout + proc.stderr  # -v --diff output of the run
    derived = [line.split("=", 1)[1].strip("'\"") for line in env_text.splitlines() if "__user_secret=" in line]
    for value in derived:
        assert value not in proc.stdout + proc.stderr


def test_agent_services_when_enabled_keeps_upstream_mounts(tmp_path):
    values = _secrets()
    proc, project = _render(tmp_path, {**values, "clearml_server_agent_services_enabled": True,
                                       "clearml_server_agent_services_image": "clearml/clearml-agent-services:1.9.3"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    service = _compose_config(project)["services"]["agent-services"]
    theirs = UPSTREAM["services"]["agent-services"]
    assert _bind_mounts(service) == set(theirs["volumes"])
    assert service["privileged"] is True
    assert service["environment"]["CLEARML_API_ACCESS_KEY"] == values["clearml_server_agent_access_key"]
    assert stat.S_IMODE((project / "clearml-agent-services.env").stat().st_mode) == 0o600
    assert values["clearml_server_agent_secret_key"] not in (project / "docker-compose.yml").read_text()


@pytest.mark.parametrize("override, named", [
    ({"clearml_server_image": "clearml/server:latest"}, "clearml_server_image"),
    ({"clearml_server_mongo_image": "mongo"}, "clearml_server_mongo_image"),
    ({"clearml_server_agent_services_enabled": True}, "clearml_server_agent_services_image"),
    ({"clearml_server_web_password": "short"}, "clearml_server_web_password"),
    ({"clearml_server_operator_secret_key": "has'a'quote-and-is-long-enough-to-pass-the-length"},
     "clearml_server_operator_secret_key"),
    ({"clearml_server_elasticsearch_nofile": 100}, "clearml_server_elasticsearch_nofile"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, override, named):
    proc, project = _render(tmp_path, {**_secrets(), **override})
    assert proc.returncode != 0
    assert named in proc.stdout
    assert not project.exists()
