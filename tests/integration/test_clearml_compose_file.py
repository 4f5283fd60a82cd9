"""The clearml_server role's compose project, rendered on the controller: Compose accepts it; compared
service by service with a true copy of upstream's compose file (upstream/clearml-server-compose.yaml),
it differs only in the ways upstream/compose_deviations.yml lists, and each listed way is still a
difference; its secrets stay in 0600 files and out of every environment; bad input is refused before
anything is written."""

from __future__ import annotations

import hashlib
import json
import os
import re
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

UPSTREAM_DIR = Path(__file__).parent / "upstream"
UPSTREAM_COPY = UPSTREAM_DIR / "clearml-server-compose.yaml"
TABLE = yaml.safe_load((UPSTREAM_DIR / "compose_deviations.yml").read_text())
RENDER = ROOT / "tests/integration/playbooks/render_clearml_server.yml"
# The data root as the tests' own, so nothing is written into the machine's /opt/clearml; the rendered
# file is compared with upstream's after putting /opt/clearml (and the default project dir) back.
UPSTREAM_ROOT = "/opt/clearml"
AGENT_IMAGE = "clearml/clearml-agent-services:1.9.3"


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
                                      "clearml_data_root": str(tmp / "data"), **extra}))
    values.chmod(0o600)
    proc = subprocess.run(["ansible-playbook", "-v", "--diff", "-i", str(inventory), "-e", f"@{values}", str(RENDER)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=playbook_env())
    return proc, project


def _compose_config_available() -> None:
    """`docker compose config` reads files offline: it needs the Compose v2 CLI, not a running engine."""
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode:
        if os.environ.get("CLEARSTACK_REQUIRE_DOCKER"):
            pytest.fail("`docker compose` (Compose v2) is missing: scripts/bootstrap.sh --test installs it")
        pytest.skip("`docker compose` (Compose v2) is not installed")


def _compose_config(project: Path) -> dict:
    _compose_config_available()
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


@pytest.fixture(scope="module")
def rendered_with_agent(tmp_path_factory):
    """The project with agent-services enabled (off by default): the one compared field by field."""
    tmp = tmp_path_factory.mktemp("clearml-compose-agent")
    values = _secrets()
    proc, project = _render(tmp, {**values, "clearml_server_agent_services_enabled": True,
                                  "clearml_server_agent_services_image": AGENT_IMAGE})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return values, project, _compose_config(project)


# ---- the comparison with upstream's file ------------------------------------------------------------
#
# Both files go through `docker compose config --format json`, so both are read by the same parser
# into the same canonical form (short and long syntax of ports, volumes, depends_on, a command string
# split as Compose splits it), instead of a normaliser of our own that could disagree with Compose.
# Every variable upstream's file interpolates is set empty, and nothing else of the caller's
# environment is passed, so its values do not depend on who runs the test ("${X:-default}" then gives
# the default, as for an operator who sets nothing). Top-level keys are compared on the raw YAML:
# Compose always prints a `name`, derived from the directory when the file has none.

def _upstream_config() -> dict:
    _compose_config_available()
    variables = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", UPSTREAM_COPY.read_text()))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
           **{name: "" for name in variables}}
    proc = subprocess.run(["docker", "compose", "-f", str(UPSTREAM_COPY), "--project-name", "upstream",
                           "config", "--format", "json"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def upstream():
    return _upstream_config()


def _as_upstream(config: dict, project: Path) -> dict:
    """The rendered config with the tests' data root and project dir put back to the defaults."""
    text = json.dumps(config)
    text = text.replace(str(project.parent / "data"), UPSTREAM_ROOT).replace(str(project), f"{UPSTREAM_ROOT}/compose")
    return json.loads(text)


def _image(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return repository, tag


# Fields whose value is a mapping, compared key by key (volumes keyed by their target).
KEYED = {"environment", "volumes", "labels", "ulimits"}


def _keyed(field: str, value) -> dict:
    if field == "volumes":
        return {v["target"]: v for v in value}
    return dict(value)


def _change(ours, theirs) -> str | None:
    if ours == theirs:
        return None
    return "added" if theirs is None else "removed" if ours is None else "changed"


def _service_differences(name: str, ours: dict, theirs: dict) -> dict[tuple, str]:
    """{(service, field, key): added|removed|changed} over every field either side has."""
    ours = {k: v for k, v in ours.items() if v is not None}
    theirs = {k: v for k, v in theirs.items() if v is not None}
    found: dict[tuple, str] = {}
    for field in sorted(set(ours) | set(theirs)):
        if field == "image":
            for key, ours_part, theirs_part in zip(("repository", "tag"), _image(ours["image"]), _image(theirs["image"])):
                if ours_part != theirs_part:
                    found[(name, field, key)] = "changed"
        elif field in KEYED:
            mine, upstream = _keyed(field, ours.get(field, [])), _keyed(field, theirs.get(field, []))
            for key in set(mine) | set(upstream):
                change = _change(mine.get(key), upstream.get(key))
                if change:
                    found[(name, field, key)] = change
        else:
            change = _change(ours.get(field), theirs.get(field))
            if change:
                found[(name, field, None)] = change
    return found


def _project_differences(config: dict, raw_ours: dict, upstream: dict, raw_theirs: dict) -> dict[tuple, str]:
    found: dict[tuple, str] = {}
    for key in (set(raw_ours) | set(raw_theirs)) - {"services", "networks"}:
        change = _change(raw_ours.get(key), raw_theirs.get(key))
        if change:
            found[(None, key, None)] = change
    # A network's name is the project's name plus its key: that part belongs to `name`.
    strip = {n: {k: v for k, v in net.items() if k != "name"} for n, net in config.get("networks", {}).items()}
    strip_theirs = {n: {k: v for k, v in net.items() if k != "name"} for n, net in upstream.get("networks", {}).items()}
    if strip != strip_theirs:
        found[(None, "networks", None)] = "changed"
    return found


def _differences(config: dict, project: Path, upstream: dict) -> dict[tuple, str]:
    ours = _as_upstream(config, project)
    raw_ours = yaml.safe_load((project / "docker-compose.yml").read_text())
    raw_theirs = yaml.safe_load(UPSTREAM_COPY.read_text())
    found = _project_differences(ours, raw_ours, upstream, raw_theirs)
    for name in set(ours["services"]) | set(upstream["services"]):
        if name not in ours["services"] or name not in upstream["services"]:
            found[(name, "service", None)] = "removed" if name in upstream["services"] else "added"
            continue
        found.update(_service_differences(name, ours["services"][name], upstream["services"][name]))
        # Keys Compose consumes and does not print (env_file: merged into environment) are compared raw.
        raw = raw_ours["services"][name], raw_theirs["services"][name]
        for field in (set(raw[0]) | set(raw[1])) - set(ours["services"][name]) - set(upstream["services"][name]):
            change = _change(raw[0].get(field), raw[1].get(field))
            if change:
                found[(name, field, None)] = change
    return found


def _listed(section: str) -> dict[tuple, dict]:
    return {(d["service"], d["field"], d.get("key")): d for d in TABLE[section]}


def _show(keys) -> str:
    return "\n  " + "\n  ".join(f"service {s}, field {f}" + (f", key {k}" if k is not None else "") for s, f, k in sorted(keys, key=str))


def test_upstream_copy_is_the_one_the_readme_names():
    """The copy is never edited: its digest is the one recorded when it was read."""
    recorded = re.search(r"sha256 ([0-9a-f]{64})", (UPSTREAM_DIR / "README.md").read_text()).group(1)
    assert hashlib.sha256(UPSTREAM_COPY.read_bytes()).hexdigest() == recorded
    assert TABLE["upstream"]["commit"] in (UPSTREAM_DIR / "README.md").read_text()


def test_every_difference_from_upstream_is_listed_and_every_listed_one_is_real(rendered, rendered_with_agent, upstream):
    """Field by field with agent-services on, and the set of services as deployed by default."""
    _, project, config = rendered_with_agent
    found = _differences(config, project, upstream)
    _, _, default_project, default_config = rendered
    found.update({k: v for k, v in _differences(default_config, default_project, upstream).items() if k[1] == "service"})
    listed = _listed("deviations")
    assert len(listed) == len(TABLE["deviations"]), "an entry of compose_deviations.yml is listed twice"
    assert not set(found) - set(listed), "not in compose_deviations.yml:" + _show(set(found) - set(listed))
    assert not set(listed) - set(found), "listed in compose_deviations.yml, no longer a difference:" + _show(set(listed) - set(found))
    wrong = {k for k in found if found[k] != listed[k]["change"]}
    assert not wrong, "listed with the wrong change (added/removed/changed):" + _show(wrong)
    for entry in TABLE["deviations"]:
        assert entry.get("reason", "").strip(), entry


def test_each_parameterised_field_renders_upstreams_value_by_default_and_follows_its_variable(tmp_path, upstream):
    """`variables` of the table: fields that render upstream's value unless the operator sets the variable."""
    variables = TABLE["variables"]
    proc, project = _render(tmp_path, {**_secrets(), **{v["variable"]: v["value"] for v in variables}})
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = _differences(_compose_config(project), project, upstream)
    listed = _listed("deviations")
    for entry in variables:
        key = (entry["service"], entry["field"], entry.get("key"))
        assert key not in listed, f"{key} is a variable with upstream's default, not a deviation"
        assert key in found, f"setting {entry['variable']} does not change {key}"
    # ... and nothing else moved: each variable drives only its own fields.
    assert set(found) - set(listed) == {(v["service"], v["field"], v.get("key")) for v in variables}


def test_images_are_the_ones_upstream_pairs_with_the_server_release(rendered, upstream):
    """Elasticsearch, MongoDB and Redis exactly as upstream's file pins them; clearml/server pinned to a
    tag of the release the copy belongs to (upstream says :latest); the same repositories everywhere."""
    _, _, _, config = rendered
    for name, service in config["services"].items():
        theirs = upstream["services"][name]["image"]
        assert _image(service["image"])[0] == _image(theirs)[0], name
        if _image(theirs)[1] != "latest":
            assert service["image"] == theirs, f"{name}: {service['image']}, upstream {theirs}"
    server_tag = _image(config["services"]["apiserver"]["image"])[1]
    assert server_tag.split(".")[:2] == TABLE["upstream"]["server_release"].split("."), server_tag


def test_start_order_is_upstreams_and_waits_for_health(rendered_with_agent, upstream):
    _, _, config = rendered_with_agent
    for name, theirs in upstream["services"].items():
        ours = config["services"][name].get("depends_on", {})
        assert set(ours) == set(theirs.get("depends_on", {})), name
        assert {dep["condition"] for dep in ours.values()} <= {"service_healthy"}, name
        assert config["services"][name]["healthcheck"]["test"], name


def test_secrets_upstream_passes_in_the_environment_are_in_no_service(rendered, rendered_with_agent):
    secret_keys = {d["key"] for d in TABLE["deviations"] if d.get("secret")}
    assert "CLEARML__secure__credentials__services_agent__user_key" in secret_keys
    for config in (rendered[3], rendered_with_agent[2]):
        for name, service in config["services"].items():
            assert set(service.get("environment", {})) & secret_keys == set(), name


def test_services_that_read_the_config_files_carry_their_digest(rendered):
    _, _, _, config = rendered
    for name, service in config["services"].items():
        # The digest restarts them when a secret in a mounted file changes (Compose sees no file change).
        reads_config = any(v["target"] == "/opt/clearml/config" for v in service.get("volumes", []))
        assert set(service.get("labels", {})) == ({"clearstack.config-digest"} if reads_config else set()), name


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


def test_agent_services_reads_its_keys_from_a_mounted_0600_file(rendered_with_agent):
    values, project, config = rendered_with_agent
    service = config["services"]["agent-services"]
    conf_path = service["environment"]["CLEARML_CONFIG_FILE"]
    keys_mount = [v for v in service["volumes"] if v["target"] == conf_path]
    assert len(keys_mount) == 1 and keys_mount[0]["read_only"] is True
    assert keys_mount[0]["source"] == f"{project}/clearml-agent.conf"
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
