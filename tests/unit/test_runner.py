"""The ansible-runner wrapper, on a local playbook: counts, task names, check mode, no leftovers."""

from __future__ import annotations

import sys
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


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_host_at_preflight_stops_every_host_and_says_so(tmp_path):
    """Ansible's any_errors_fatal stops the reachable hosts too, without a failure of their own: the
    result and its summary must say that nothing after preflight ran anywhere."""
    from clearstack.progress import summary

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"marker_path": str(tmp_path / "marker")}, "hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        # Nothing listens on this loopback port: SSH is refused at once.
        "powered-off": {"ansible_host": "127.0.0.1", "ansible_port": _free_loopback_port(),
                        "ansible_connection": "ssh"}}}}))
    result = run_playbook(str(PLAYBOOK.parent / "preflight_stops_all.yml"), inventory)
    assert not result.succeeded
    assert result.stopped_by_preflight
    assert result.hosts["powered-off"].unreachable
    assert not result.hosts["localhost"].failed and not result.hosts["localhost"].unreachable
    assert not (tmp_path / "marker").exists()  # the later layer ran nowhere
    assert "Preflight refused the run, so nothing after it ran on any host" in summary(result)


def test_a_failure_after_preflight_does_not_claim_preflight_stopped_the_run(inventory):
    result = run_playbook(str(PLAYBOOK), inventory(fail_now=True))
    assert not result.succeeded and not result.stopped_by_preflight


def test_the_preflight_play_is_named_as_the_runner_expects_and_stops_every_host():
    from clearstack.runner import PREFLIGHT_PLAY

    plays = yaml.safe_load((Path(__file__).parents[2] / "playbooks/preflight.yml").read_text())
    assert [(p["name"], p.get("any_errors_fatal")) for p in plays] == [(PREFLIGHT_PLAY, True)]


def test_a_failed_loop_names_each_failed_item_and_why(inventory):
    result = run_playbook(str(PLAYBOOK.parent / "loop_fails.yml"), inventory())
    ((task, message),) = result.hosts["localhost"].failed_tasks
    assert task == "Check every item"
    assert "b: item b is bad" in message and "a:" not in message


def test_a_killed_drivers_run_directory_is_removed_by_the_next_run(inventory, tmp_path, monkeypatch):
    """SIGKILL leaves the private dir (and its secrets vars file) behind; the next run removes it, and
    never the directory of a driver that is still running."""
    import os
    import subprocess

    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = runs / f"clearstack-run-{gone.pid}-abc123"
    live = runs / f"clearstack-run-{os.getpid()}-def456"
    for path in (orphan, live):
        path.mkdir()
        (path / "secrets.yml").write_text("x: y\n")
    assert run_playbook(str(PLAYBOOK), inventory()).succeeded
    assert sorted(runs.iterdir()) == [live]


@pytest.mark.parametrize("case,task,says", [
    ("command", "A command that fails", ["non-zero return code: ls: cannot access", "No such file or directory"]),
    ("command_loop", "A loop of commands that fails", ["One or more items failed; one: non-zero return code: ls: "
                                                      "cannot access", ".missing.one"]),
    ("no_log", "A hidden command that fails", ["result hidden by no_log; non-zero return code"]),
    ("no_log_loop", "A hidden loop that fails", ["result hidden by no_log; non-zero return code"]),
])
def test_a_failed_task_carries_the_modules_error(inventory, case, task, says):
    """The reason comes from where modules put it (msg, stderr), and a no_log task still says what failed
    (Ansible's own error line), so `up` never prints a failure with an empty reason."""
    result = run_playbook(str(PLAYBOOK.parent / "failures.yml"), inventory(case=case))
    ((failed_task, message),) = result.hosts["localhost"].failed_tasks
    assert failed_task == task
    for text in says:
        assert text in message, message


# Results of community.docker.docker_container 4.8.5 pulling an image from a registry name that does not
# resolve, as ansible-core 2.19.14 reported them through ansible-runner (invocation dropped; resolver address
# replaced). A loop: the item results; with no_log: only the censored result and Ansible's error line.
_PULL_ERROR = ('Error pulling image registry.invalid/x:1 - 500 Server Error for http+docker://localhost/v1.41/images/'
               'create?tag=1&fromImage=registry.invalid%2Fx: Internal Server Error ("Get "https://registry.invalid/v2/": '
               'dial tcp: lookup registry.invalid on 127.0.0.53:53: no such host")')
_CENSORED = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}


def _event(kind, task, res, stdout="", uuid="t1"):
    return {"event": kind, "stdout": stdout, "event_data": {"host": "h1", "task": task, "task_uuid": uuid, "res": res}}


def test_an_image_that_cannot_be_pulled_is_named_with_the_pull_error():
    from clearstack.runner import _EventCollector

    collector = _EventCollector(None)
    item = {"msg": _PULL_ERROR, "changed": False, "exception": "(traceback unavailable)", "_ansible_no_log": False,
            "item": "minio1", "ansible_loop_var": "item", "_ansible_item_label": "minio1"}
    collector(_event("runner_item_on_failed", "Create or update the MinIO node containers", item))
    collector(_event("runner_on_failed", "Create or update the MinIO node containers",
                     {"results": [{**item, "failed": True}], "msg": "One or more items failed", "changed": False}))
    error_line = f"[ERROR]: Task failed: Module failed: {_PULL_ERROR}\r\nOrigin: nodes.yml:9:3\r\n\r\nfailed: [h1] (item=("
    collector(_event("runner_item_on_failed", "Pull, hidden", _CENSORED, error_line + "censored due to no_log)) =>", "t2"))
    collector(_event("runner_on_failed", "Pull, hidden", _CENSORED, "", "t2"))
    collector(_event("runner_on_failed", "Pull one, hidden", _CENSORED, error_line.replace("failed: [h1] (item=(", "fatal"),
                     "t3"))
    failed = dict(collector.hosts["h1"].failed_tasks)
    fix = (". Fix: the host could not pull registry.invalid/x:1. Let it reach a registry that has the image (or point "
           "the image variable at your mirror), or bring the images offline: `docker save` them into a tarball on the "
           "controller and list it in docker_image_bundles")
    assert failed["Create or update the MinIO node containers"].startswith(
        f"One or more items failed; minio1: {_PULL_ERROR}{fix}"), failed
    assert failed["Pull, hidden"].startswith(f"result hidden by no_log; {_PULL_ERROR}{fix}")
    assert failed["Pull one, hidden"].startswith(f"result hidden by no_log; {_PULL_ERROR}{fix}")
    assert all("`clearstack images build minio`" in message for message in failed.values())


def test_a_failure_that_is_not_a_pull_gets_no_pull_fix():
    from clearstack.runner import _with_pull_fix

    assert _with_pull_fix("non-zero return code: ls: cannot access") == "non-zero return code: ls: cannot access"


@pytest.mark.parametrize("res,says", [
    ({"msg": "MODULE FAILURE\nSee stdout/stderr for the exact error", "module_stderr":
      "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'image'\n", "rc": 1},
     "MODULE FAILURE See stdout/stderr for the exact error: KeyError: 'image'"),
    ({"exception": "Traceback (most recent call last):\n  File \"m.py\"\nOSError: [Errno 28] No space left on device"},
     "OSError: [Errno 28] No space left on device"),
    ({"msg": "chown failed", "details": "[Errno 1] Operation not permitted"}, "chown failed: [Errno 1] Operation not permitted"),
    ({"rc": 3, "stdout": "", "stderr": ""}, "exit code 3"),
    ({}, "no error message from the module"),
    (_CENSORED, "result hidden by no_log (the task's own output is censored"),
])
def test_failure_reasons_come_from_where_modules_put_them(res, says):
    from clearstack.runner import _failure_message

    assert _failure_message(res).startswith(says)


def test_a_roles_own_argument_spec_check_names_the_role_and_the_fix(inventory):
    """The shared defaults role checks its types when it starts, before preflight can: the driver words
    that failure as preflight words its own (role, variable, type, where to fix)."""
    result = run_playbook(str(PLAYBOOK.parent / "shared_defaults.yml"), inventory(minio_api_port="abc"))
    ((_task, message),) = result.hosts["localhost"].failed_tasks
    assert message.startswith("variables for role clearstack_defaults do not match its argument spec: "
                              "argument 'minio_api_port' is of type str"), message
    assert "unable to convert to int" in message
    assert message.endswith("Fix: set them in your inventory (group_vars or host_vars) to the type "
                            "roles/clearstack_defaults/README.md gives, or remove them to use the defaults."), message
