"""The clearml_server role's compose project, rendered on the controller: Compose accepts it, it keeps
upstream's services, ports, bind mounts and environment (differences listed in
upstream/clearml_server_compose.yml), its secrets stay in 0600 files and out of every environment, and
bad input is refused before anything is written."""

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
from clearml.utilities.pyhocon import ConfigFactory

from testhosts import ROOT, playbook_env

UPSTREAM = yaml.safe_load((Path(__file__).parent / "upstream/clearml_server_compose.yml").read_text())
RENDER = ROOT / "tests/integration/playbooks/render_clearml_server.yml"
# The data root as the tests' own, so nothing is written into the machine's /opt/clearml; bind mounts
# are compared with upstream's after putting /opt/clearml back in its place.
UPSTREAM_ROOT = "/opt/clearml"


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
    """Validate and render into tmp/compose, with the data root tmp/data (whose config dir the
    clearml_dirs role would have made)."""
    project = tmp / "compose"
    (tmp / "data/config").mkdir(parents=True, exist_ok=True)
    inventory = tmp / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": {"clearml-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    values = tmp / "vars.yml"
    values.write_text(yaml.safe_dump({"clearml_server_project_dir": str(project),
                                      "clearml_server_data_root": str(tmp / "data"), **extra}))
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


def _server_config(project: Path) -> dict:
    """secure.conf and apiserver.conf of the rendered config dir, parsed as HOCON (as clearml-server
    parses them), keyed by file name as clearml-server keys them."""
    config_dir = project.parent / "data/config"
    return {name: ConfigFactory.parse_file(str(config_dir / f"{name}.conf")).as_plain_ordered_dict()
            for name in ("secure", "apiserver")}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clearml-compose")
    values = _secrets()
    proc, project = _render(tmp, values)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return values, proc, project, _compose_config(project)


def _bind_mounts(service: dict, root: str) -> set[str]:
    return {f"{v['source'].replace(root, UPSTREAM_ROOT, 1)}:{v['target']}"
            for v in service.get("volumes", []) if v["type"] == "bind"}


def _ports(service: dict) -> set[str]:
    return {f"{p['published']}:{p['target']}" for p in service.get("ports", [])}


def test_compose_accepts_the_file_and_keeps_upstream_services(rendered):
    _, _, _, config = rendered
    upstream = set(UPSTREAM["services"]) - {"agent-services"}  # optional, off by default
    assert set(config["services"]) == upstream


@pytest.mark.parametrize("name", [s for s in UPSTREAM["services"] if s != "agent-services"])
def test_each_service_keeps_upstream_ports_mounts_environment_and_command(rendered, name):
    _, _, project, config = rendered
    ours, theirs = config["services"][name], UPSTREAM["services"][name]
    assert ours["container_name"] == theirs["container_name"]
    assert _ports(ours) == set(theirs["ports"])
    assert _bind_mounts(ours, str(project.parent / "data")) == set(theirs["volumes"])
    assert set(theirs["environment"]) - set(UPSTREAM["secrets_as_files"]) <= set(ours.get("environment", {}))
    for key in ("command", "entrypoint"):
        assert ours.get(key) == theirs.get(key), key
    if "ulimits" in theirs:
        assert {k: v["hard"] for k, v in ours["ulimits"].items()} == theirs["ulimits"]


def test_differences_are_only_the_listed_ones(rendered):
    _, _, _, config = rendered
    for name, service in config["services"].items():
        assert service["healthcheck"]["test"], name
        assert ":latest" not in service["image"] and ":" in service["image"], service["image"]
        environment = set(service.get("environment", {}))
        # No variable of upstream's is added, and none of those that carry secrets is kept.
        assert environment - set(UPSTREAM["services"][name]["environment"]) == set(), name
        assert environment & set(UPSTREAM["secrets_as_files"]) == set(), name
        # The services that read the config files carry the digest that restarts them when a secret changes.
        reads_config = any(v["target"] == "/opt/clearml/config" for v in service.get("volumes", []))
        assert set(service.get("labels", {})) == ({"clearstack.config-digest"} if reads_config else set()), name
    assert config["services"]["mongo"]["image"] == "mongo:8.0.15"
    assert config["services"]["apiserver"]["image"] == "clearml/server:2.4.0"


def test_stock_public_keys_are_overridden_and_the_web_login_is_fixed(rendered):
    values, _, project, _ = rendered
    server = _server_config(project)
    credentials = server["secure"]["credentials"]
    assert set(credentials) == {"apiserver", "fileserver", "webserver", "tests", "services_agent", "clearstack"}
    for user, entry in credentials.items():
        assert len(entry["user_key"]) >= 24 and len(entry["user_secret"]) >= 32, user
    assert credentials["clearstack"] == {"role": "user", "display_name": "clearstack",
                                         "user_key": values["clearml_server_operator_access_key"],
                                         "user_secret": values["clearml_server_operator_secret_key"]}
    assert credentials["services_agent"] == {"user_key": values["clearml_server_agent_access_key"],
                                             "user_secret": values["clearml_server_agent_secret_key"]}
    assert len(server["secure"]["auth"]["token_secret"]) == len(server["secure"]["http"]["session_secret"]["apiserver"]) == 64
    fixed = server["apiserver"]["auth"]["fixed_users"]
    assert fixed["enabled"] is True and fixed["pass_hashed"] is False
    assert fixed["users"] == [{"username": "admin", "password": values["clearml_server_web_password"], "name": "admin"}]
    # Every installation gets its own derived keys: nothing here is the same across two secrets.
    assert len({entry["user_key"] for entry in credentials.values()}) == 6


def _all_secrets(values: dict, project: Path) -> list[str]:
    """The generated secrets and every key and secret derived from them."""
    secure = _server_config(project)["secure"]
    derived = [v for entry in secure["credentials"].values() for k, v in entry.items() if k in ("user_key", "user_secret")]
    return [*values.values(), *derived, secure["auth"]["token_secret"], secure["http"]["session_secret"]["apiserver"]]


def test_secrets_are_in_0600_files_and_in_no_environment(rendered):
    values, proc, project, config = rendered
    assert stat.S_IMODE(project.stat().st_mode) == 0o700
    for path in (project / "clearml-server.env", project.parent / "data/config/secure.conf",
                 project.parent / "data/config/apiserver.conf"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # What `docker inspect` of each container would show: its environment, labels, command.
    resolved = json.dumps(config)
    compose_text = (project / "docker-compose.yml").read_text()
    env_text = (project / "clearml-server.env").read_text()
    for value in _all_secrets(values, project):
        assert value not in resolved and value not in compose_text and value not in env_text
        assert value not in proc.stdout + proc.stderr  # -v --diff output of the run


def test_a_changed_secret_changes_the_digest_that_restarts_the_services(rendered, tmp_path):
    values, _, _, config = rendered
    digest = {name: s.get("labels", {}).get("clearstack.config-digest") for name, s in config["services"].items()}
    assert digest["apiserver"] == digest["fileserver"] == digest["async_delete"] and len(digest["apiserver"]) == 16
    same, project = _render(tmp_path / "same", values)
    assert same.returncode == 0, same.stdout[-3000:]
    assert _compose_config(project)["services"]["apiserver"]["labels"]["clearstack.config-digest"] == digest["apiserver"]
    for name in ("clearml_server_operator_secret_key", "clearml_server_web_password"):
        other = {**values, name: values[name][::-1]}
        proc, project = _render(tmp_path / name, other)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert _compose_config(project)["services"]["apiserver"]["labels"]["clearstack.config-digest"] != digest["apiserver"], name


def test_agent_services_when_enabled_keeps_upstream_mounts(tmp_path):
    values = _secrets()
    proc, project = _render(tmp_path, {**values, "clearml_server_agent_services_enabled": True,
                                       "clearml_server_agent_services_image": "clearml/clearml-agent-services:1.9.3"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    config = _compose_config(project)
    service = config["services"]["agent-services"]
    theirs = UPSTREAM["services"]["agent-services"]
    conf_path = service["environment"]["CLEARML_CONFIG_FILE"]
    keys_mount = [v for v in service["volumes"] if v["target"] == conf_path]
    assert len(keys_mount) == 1 and keys_mount[0]["read_only"] is True
    assert _bind_mounts(service, str(tmp_path / "data")) - {f"{project}/clearml-agent.conf:{conf_path}"} == set(theirs["volumes"])
    assert service["privileged"] is True
    # The agent reads its keys from the mounted clearml.conf, as the SDK reads api.credentials.
    agent_conf = ConfigFactory.parse_file(str(project / "clearml-agent.conf"))
    assert agent_conf["api.credentials.access_key"] == values["clearml_server_agent_access_key"]
    assert agent_conf["api.credentials.secret_key"] == values["clearml_server_agent_secret_key"]
    for name in ("clearml-agent-services.env", "clearml-agent.conf"):
        assert stat.S_IMODE((project / name).stat().st_mode) == 0o600, name
    for value in values.values():
        assert value not in json.dumps(config), "a secret is in a service's definition"


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
