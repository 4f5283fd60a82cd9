"""A value several roles need has one home (roles/clearstack_defaults): changed once in the inventory,
it reaches every place that uses it. Rendered on the controller (compose project and clearml.conf), no
host needed. The inventory is shaped like inventory/sample: the ClearML host's inventory name is not
how clients reach it, its ansible_host is."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from clearml.utilities.pyhocon import ConfigFactory

from testhosts import ROOT, playbook_env

NAME, ADDRESS = "clearml.example.internal", "192.0.2.10"
RENDER = ROOT / "tests/integration/playbooks/render_clearml_server.yml"


def _secrets() -> dict[str, str]:
    """The secret store's values, under its names (the role variables), as the driver passes them."""
    token = secrets.token_hex
    return {"clearml_server_operator_access_key": token(12).upper(), "clearml_server_operator_secret_key": token(24),
            "clearml_server_agent_access_key": token(12).upper(), "clearml_server_agent_secret_key": token(24),
            "clearml_server_web_password": token(12), "clearml_server_internal_secret": token(32),
            "minio_root_user": token(8), "minio_root_password": token(16)}


def _inventory(tmp: Path, host_vars: dict | None = None) -> Path:
    """ClearML host and all-in-one MinIO host in one, reached locally whatever its ansible_host says."""
    host = {NAME: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                   "ansible_host": ADDRESS, **(host_vars or {})}}
    path = tmp / "inventory" / "hosts.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"all": {"children": {"clearml_server": {"hosts": host}, "minio": {"hosts": host}}}}))
    return path


def _play(playbook: Path, inventory: Path, values: dict) -> subprocess.CompletedProcess:
    extra = inventory.parent / "extra.yml"
    extra.write_text(yaml.safe_dump(values))
    extra.chmod(0o600)
    return subprocess.run(["ansible-playbook", "-i", str(inventory), "-e", f"@{extra}", str(playbook)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=playbook_env())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """The compose project and clearml.conf of an inventory that moves the API to port 18008."""
    tmp = tmp_path_factory.mktemp("shared-values")
    inventory = _inventory(tmp, {"clearml_server_api_port": 18008})
    (tmp / "data/config").mkdir(parents=True)
    values = {**_secrets(), "clearml_data_root": str(tmp / "data"), "clearml_server_agent_services_enabled": True,
              "clearml_server_agent_services_image": "clearml/clearml-agent-services:1.9.3"}
    render = _play(RENDER, inventory, values)
    assert render.returncode == 0, render.stdout[-3000:] + render.stderr[-3000:]
    client = _play(ROOT / "playbooks/clearml_client.yml", inventory, values)
    assert client.returncode == 0, client.stdout[-3000:] + client.stderr[-3000:]
    compose = yaml.safe_load((tmp / "data/compose/docker-compose.yml").read_text())
    conf = ConfigFactory.parse_file(str(inventory.parent / "clearml.conf"))
    return compose, conf, client.stdout


def test_a_moved_api_port_reaches_clearml_conf_the_published_port_and_the_summary(deployed):
    compose, conf, summary = deployed
    assert "18008:8008" in compose["services"]["apiserver"]["ports"]
    assert conf["api"]["api_server"] == f"http://{ADDRESS}:18008"
    assert f"http://{ADDRESS}:18008" in summary and ":8008" not in summary.replace(":18008", "")


def test_clients_upload_under_the_url_async_delete_deletes_from(deployed):
    """clearml.conf's files_server is where the SDK uploads; async_delete deletes only under its
    url_prefixes: the same URL, built from the ClearML host's ansible_host, not its inventory name."""
    compose, conf, _ = deployed
    files = conf["api"]["files_server"]
    assert files == f"http://{ADDRESS}:8081"
    for service in ("apiserver", "async_delete"):
        prefixes = compose["services"][service]["environment"]["CLEARML__services__async_urls_delete__fileserver__url_prefixes"]
        assert json.loads(prefixes) == [files], (service, prefixes)
    agent = compose["services"]["agent-services"]["environment"]
    assert agent["CLEARML_FILES_HOST"] == files
    assert agent["CLEARML_WEB_HOST"] == conf["api"]["web_server"] == f"http://{ADDRESS}:8080"
    assert conf["sdk"]["aws"]["s3"]["credentials"][0]["host"] == f"{ADDRESS}:9000"


def test_one_address_set_in_the_inventory_moves_every_client_url(tmp_path):
    inventory = _inventory(tmp_path, {"clearml_server_address": "clearml.users.example"})
    proc = _play(ROOT / "playbooks/clearml_client.yml", inventory, _secrets())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    conf = ConfigFactory.parse_file(str(inventory.parent / "clearml.conf"))
    assert [conf["api"][k] for k in ("api_server", "web_server", "files_server")] == [
        "http://clearml.users.example:8008", "http://clearml.users.example:8080", "http://clearml.users.example:8081"]
    assert conf["sdk"]["aws"]["s3"]["credentials"][0]["host"] == "clearml.users.example:9000"


def test_variables_clearstack_no_longer_reads_are_refused_by_name(tmp_path):
    """Preflight, before anything changes: a renamed variable would otherwise be silently ignored."""
    renamed = {"clearml_dirs_root": "clearml_data_root", "clearml_client_server_address": "clearml_server_address",
               "minio_group": "group minio"}
    inventory = _inventory(tmp_path, dict.fromkeys(renamed, "x"))
    proc = _play(ROOT / "playbooks/preflight.yml", inventory, {})
    assert proc.returncode != 0
    message = re.sub(r"\s+", " ", proc.stdout)
    assert f"sets {', '.join(sorted(renamed))}, which clearstack no longer reads" in message, message[-2000:]
    for old, new in renamed.items():
        assert re.search(rf"{old} is replaced by [^;]*{new}", message), (old, message[-2000:])
