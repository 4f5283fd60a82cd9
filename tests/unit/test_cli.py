"""The CLI's contract: help a newcomer can read, input errors before any run, documented exit codes."""

from __future__ import annotations

import json

import pytest

from clearstack import cli
from clearstack.runner import HostResult, RunResult


def _fake_run(changed_tasks=(), failed_tasks=()):
    def run(playbook, inventory, **kwargs):
        host = HostResult(ok=3, changed=len(changed_tasks), failed=len(failed_tasks),
                          changed_tasks=list(changed_tasks), failed_tasks=list(failed_tasks))
        return RunResult(playbook=playbook, rc=2 if failed_tasks else 0, status="failed" if failed_tasks else "successful",
                         hosts={"vm1": host})
    return run


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("clearstack ")
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    help_text = capsys.readouterr().out
    assert "0: in sync" in help_text and "2: drift found" in help_text


@pytest.mark.parametrize("verb", ["verify", "status", "down"])
def test_verbs_whose_playbook_has_no_layer_tags_refuse_tags(monkeypatch, capsys, tmp_path, verb):
    """verify.yml, status.yml and down.yml carry no layer tags: `verify --tags minio` ran 0 checks and
    passed, `down -t clearml_server` stopped nothing and succeeded. Now refused before any run."""
    monkeypatch.setattr(cli, "run_playbook", lambda *a, **k: pytest.fail("no run may start"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main([verb, "-i", str(tmp_path), "--tags", "minio"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --tags minio" in capsys.readouterr().err


def test_up_and_check_take_layer_tags_to_the_run(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(cli, "run_playbook", lambda playbook, inventory, **kw: seen.append(kw["tags"]) or
                        _fake_run()(playbook, inventory))
    monkeypatch.setattr(cli.secret_store, "ensure", lambda inventory: {})
    for verb in ("up", "check"):
        assert cli.main([verb, "-i", str(tmp_path), "--tags", "docker", "--json"]) == 0
    assert seen == ["docker", "docker"]


def test_missing_inventory_is_refused_before_any_run(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "run_playbook", lambda *a, **k: pytest.fail("no run may start"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["up", "-i", str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("changed,failed,code", [((), (), cli.EXIT_OK), (["Set x"], (), cli.EXIT_DRIFT),
                                                 ((), [("Check ports", "port 8008 taken")], cli.EXIT_ERROR)])
def test_check_exit_codes(monkeypatch, capsys, tmp_path, changed, failed, code):
    monkeypatch.setattr(cli, "run_playbook", _fake_run(changed, failed))
    assert cli.main(["check", "-i", str(tmp_path)]) == code
    out = capsys.readouterr().out
    for task in changed:
        assert f"changed: {task}" in out
    for task, msg in failed:
        assert f"FAILED: {task}: {msg}" in out


def test_up_reports_json_for_machines(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "run_playbook", _fake_run(["Create the tree"]))
    assert cli.main(["up", "-i", str(tmp_path), "--json"]) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["verb"] == "up"
    assert report["hosts"]["vm1"]["changed_tasks"] == ["Create the tree"]


def test_up_refuses_a_bad_pipeline_spec_before_any_run(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "run_playbook", lambda *a, **k: pytest.fail("no run may start"))
    spec = tmp_path / "spec.yml"
    spec.write_text("ingest: [{source: 's3://nohost/clearml/', project: p, name: n}]\n")
    assert cli.main(["up", "-i", str(tmp_path), "--pipeline", str(spec)]) == cli.EXIT_ERROR
    assert "has no port" in capsys.readouterr().err


def test_credentials_names_the_files_and_shows_values_only_on_request(capsys, tmp_path):
    from clearstack import secrets as secret_store

    stored = secret_store.ensure(tmp_path)
    assert cli.main(["credentials", "-i", str(tmp_path)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert str(secret_store.store_path(tmp_path)) in out and "minio_root_password" in out
    assert not any(value in out for value in stored.values())
    assert cli.main(["credentials", "-i", str(tmp_path), "--show", "--json"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["values"] == stored


def test_credentials_of_an_old_store_name_the_role_variables_and_json_stays_clean(capsys, tmp_path):
    """A store written before the renaming: `credentials --json` prints the new names on stdout (valid JSON),
    the one-line note about the renaming on stderr."""
    from clearstack import secrets as secret_store

    path = secret_store.store_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_text("clearml_operator_access_key: KEY1\nclearml_server_secret: secret-of-the-server\n")
    path.chmod(0o600)
    assert cli.main(["credentials", "-i", str(tmp_path), "--json"]) == cli.EXIT_OK
    said = capsys.readouterr()
    assert json.loads(said.out)["names"] == ["clearml_server_internal_secret", "clearml_server_operator_access_key"]
    assert "renamed 2 secrets" in said.err and "secret-of-the-server" not in said.err


def test_up_generates_the_secret_store_and_passes_it_privately(monkeypatch, tmp_path):
    seen = {}

    def fake_run(playbook, inventory, **kwargs):
        seen.update(kwargs["secrets"])
        return _fake_run()(playbook, inventory)
    monkeypatch.setattr(cli, "run_playbook", fake_run)
    assert cli.main(["up", "-i", str(tmp_path), "--json"]) == cli.EXIT_OK
    from clearstack import secrets as secret_store
    assert seen == secret_store.load(secret_store.store_path(tmp_path)) and seen


def _fake_report(name, rows):
    def run(playbook, inventory, **kwargs):
        return RunResult(playbook=playbook, rc=0, status="successful",
                         hosts={"vm1": HostResult(ok=2, reports={name: rows})})
    return run


@pytest.mark.parametrize("rows,code", [
    ([{"check": "ClearML API /debug.ping", "ok": True, "detail": "HTTP 200"}], cli.EXIT_OK),
    ([{"check": "ClearML API /debug.ping", "ok": True, "detail": "HTTP 200"},
      {"check": "MinIO node minio3 /minio/health/cluster", "ok": False, "detail": "container exited"}], cli.EXIT_UNHEALTHY),
])
def test_verify_prints_every_check_and_exits_by_health(monkeypatch, capsys, tmp_path, rows, code):
    from clearstack import secrets as secret_store

    secret_store.ensure(tmp_path)
    monkeypatch.setattr(cli, "run_playbook", _fake_report("checks", rows))
    assert cli.main(["verify", "-i", str(tmp_path)]) == code
    out = capsys.readouterr().out
    for row in rows:
        assert row["check"] in out and row["detail"] in out
    assert f"{sum(r['ok'] for r in rows)} of {len(rows)} checks passed" in out


def test_verify_before_any_up_says_so_and_makes_no_credentials(monkeypatch, capsys, tmp_path):
    from clearstack import secrets as secret_store

    monkeypatch.setattr(cli, "run_playbook", lambda *a, **k: pytest.fail("no run may start"))
    assert cli.main(["verify", "-i", str(tmp_path)]) == cli.EXIT_ERROR
    assert "clearstack up" in capsys.readouterr().err
    assert not secret_store.store_path(tmp_path).exists()


def test_status_lists_containers(monkeypatch, capsys, tmp_path):
    rows = [["/clearml-mongo", "mongo:7.0.22", "running", "Up 2 hours (healthy)"]]
    monkeypatch.setattr(cli, "run_playbook", _fake_report("containers", rows))
    assert cli.main(["status", "-i", str(tmp_path), "--json"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["containers"] == [
        {"host": "vm1", "name": "clearml-mongo", "image": "mongo:7.0.22", "state": "running", "status": "Up 2 hours (healthy)"}]


def test_down_keeps_data_unless_asked_and_confirmed(monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.setattr(cli, "run_playbook", lambda playbook, inventory, **kw: calls.append((playbook, kw)) or
                        RunResult(playbook=playbook, rc=0, status="successful", hosts={}))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["down", "-i", str(tmp_path)]) == cli.EXIT_OK
    assert calls[-1][0] == "down.yml" and calls[-1][1]["extravars"] is None
    # Deleting data: refused when nobody can confirm, allowed with --yes.
    assert cli.main(["down", "-i", str(tmp_path), "--delete-data"]) == cli.EXIT_ERROR
    assert "--yes" in capsys.readouterr().err and len(calls) == 1
    assert cli.main(["down", "-i", str(tmp_path), "--delete-data", "--yes"]) == cli.EXIT_OK
    assert calls[-1][1]["extravars"] == {"clearml_server_delete_data": True, "minio_delete_data": True}


@pytest.mark.parametrize("preset, written, expected", [
    ("", True, "inventory"),      # `up` wrote <inventory>/clearml.conf: the dataset verbs read it
    ("", False, "home"),          # nothing there: ~/clearml.conf, as the SDK does
    ("mine", True, "mine"),       # CLEARML_CONFIG_FILE set by the operator wins
])
def test_dataset_verbs_read_the_clearml_conf_up_wrote_next_to_the_inventory(monkeypatch, tmp_path, preset, written,
                                                                            expected):
    """`up` writes <inventory>/clearml.conf; `ingest` and the other dataset verbs read ~/clearml.conf,
    so `up` then `ingest` failed with "no ClearML API settings"."""
    from clearstack import dataset_cli
    from clearstack.datasets import settings

    inventory = tmp_path / "site"
    inventory.mkdir()
    if written:
        (inventory / "clearml.conf").write_text('api { api_server: "http://clearml-host:8008" }\n')
    mine = tmp_path / "mine.conf"
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(mine) if preset else "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    seen = []

    def list_datasets(args):  # what the SDK would be pointed at, without the SDK
        seen.append(settings.config_file())
        return {}, ""

    monkeypatch.setattr(dataset_cli, "_list", list_datasets)
    assert cli.main(["datasets", "list", "-i", str(inventory), "--json"]) == 0
    assert seen[0] == {"inventory": inventory / "clearml.conf", "home": tmp_path / "home/clearml.conf", "mine": mine}[expected]


@pytest.mark.parametrize("verb", [["ingest"], ["subset"], ["datasets", "get"]])
def test_the_wildcard_matching_is_in_the_help_of_each_verb_that_takes_one(capsys, verb):
    with pytest.raises(SystemExit):
        cli.main([*verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'**/' any number of folders, none included" in text and "'*' matches any characters, '/' included" in text
