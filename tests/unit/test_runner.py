"""The ansible-runner wrapper, on a local playbook: counts, task names, check mode, no leftovers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from clearstack.runner import run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "touch.yml"


@pytest.fixture
def inventory(tmp_path: Path):
    def make(**host_vars) -> Path:
        path = tmp_path / "hosts.yml"
        path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"marker_path": str(tmp_path / "marker"),
                                                                         **host_vars}}}}))
        return path
    return make


def test_first_run_reports_the_changed_task_and_second_run_nothing(inventory, tmp_path):
    inv = inventory()
    first = run_playbook(str(PLAYBOOK), inv)
    assert first.succeeded
    assert first.hosts["localhost"].changed == 1
    assert first.hosts["localhost"].changed_tasks == ["Write the marker file"]
    assert (tmp_path / "marker").read_text() == "marker\n"

    second = run_playbook(str(PLAYBOOK), inv)
    assert second.succeeded and not second.changed
    assert second.hosts["localhost"].ok == 2


def test_check_mode_reports_drift_without_changing_anything(inventory, tmp_path):
    result = run_playbook(str(PLAYBOOK), inventory(), check=True, diff=True)
    assert result.succeeded
    assert result.hosts["localhost"].changed_tasks == ["Write the marker file"]
    assert not (tmp_path / "marker").exists()


def test_a_failed_task_is_named_with_its_message(inventory):
    result = run_playbook(str(PLAYBOOK), inventory(fail_now=True))
    assert not result.succeeded
    assert result.hosts["localhost"].failed == 1
    assert result.hosts["localhost"].failed_tasks == [("Fail on request", "asked to fail")]


def test_no_private_run_directory_is_left_behind(inventory, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))  # where mkdtemp puts the private dir
    assert run_playbook(str(PLAYBOOK), inventory()).succeeded
    assert list(runs.iterdir()) == []


def test_secrets_reach_the_playbook_but_no_file_or_output(inventory, tmp_path, monkeypatch, capfd):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    secret = "s3cr3t-" + tmp_path.name
    ok = run_playbook(str(PLAYBOOK), inventory(expected_secret=secret), secrets={"demo_secret": secret},
                      show_output=True)
    assert ok.succeeded, ok.hosts
    wrong = run_playbook(str(PLAYBOOK), inventory(expected_secret=secret), secrets={"demo_secret": "other"})
    assert wrong.hosts["localhost"].failed == 1  # the assert really compared the value
    assert list(runs.iterdir()) == []
    out = capfd.readouterr()
    assert secret not in out.out + out.err


def test_reports_of_read_only_playbooks_are_collected_per_host(inventory):
    result = run_playbook(str(Path(__file__).parent / "playbooks" / "report.yml"), inventory(),
                          extravars={"what": "health"})
    assert result.succeeded
    assert result.hosts["localhost"].reports == {"checks": [{"check": "asked for health", "ok": True, "detail": "fine"}]}


def test_changes_of_no_log_tasks_are_named_too(inventory):
    """Ansible censors a no_log result down to nothing, `changed` included; the task must still be named."""
    playbook = str(Path(__file__).parent / "playbooks" / "secret_change.yml")
    first = run_playbook(playbook, inventory())
    assert first.succeeded
    assert first.hosts["localhost"].changed_tasks == ["Write a secret file per item", "Write a secret file"]
    assert run_playbook(playbook, inventory()).hosts["localhost"].changed_tasks == []
