"""The one module that drives ansible-runner.

Each run gets a fresh private data dir (mode 0700) that is removed afterwards, so no run leaves
artifacts behind; events feed a progress display and a structured result. Secrets reach Ansible as
a 0600 vars file inside that dir (`-e @file`): never extravars (ansible-runner writes those to
env/extravars) nor the command line, which only names the file.

ansible-playbook runs under playbook_guard.py, so it ends with the driver however the driver ends, and
under the inventory's run lock (runlock.py), so no second run starts beside it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from . import playbook_guard, runlock
from .paths import ANSIBLE_CFG, CONTENT_ROOT, PLAYBOOKS
from .secrets import write_vars_file


REPORT_PREFIX = "clearstack_"
RUN_DIR_PREFIX = "clearstack-run-"
# The play of playbooks/preflight.yml. It runs with any_errors_fatal, so one refused or unreachable
# host there stops every host, and Ansible reports no failure for the hosts it stopped.
PREFLIGHT_PLAY = "Preflight checks"


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    changed_tasks: list[str] = field(default_factory=list)
    failed_tasks: list[tuple[str, str]] = field(default_factory=list)  # (task name, message)
    # What read-only playbooks report about a host (verify.yml, status.yml): `clearstack_<name>` vars
    # shown by a debug task, keyed by <name>.
    reports: dict[str, list] = field(default_factory=dict)


@dataclass
class RunResult:
    playbook: str
    rc: int
    status: str
    hosts: dict[str, HostResult]
    # True when preflight refused the run (a host failed a check or was unreachable there): no layer
    # after it ran on any host, including the hosts with nothing failed.
    stopped_by_preflight: bool = False

    @property
    def succeeded(self) -> bool:
        return self.rc == 0 and not any(h.failed or h.unreachable for h in self.hosts.values())

    @property
    def changed(self) -> bool:
        return any(h.changed for h in self.hosts.values())


class _EventCollector:
    """Cheap event handler: counts per host and names of changed/failed tasks, plus a progress hook."""

    def __init__(self, progress: Callable[[str, str, str], None] | None):
        self.hosts: dict[str, HostResult] = {}
        self.progress = progress
        self.stopped_by_preflight = False

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        kind = event.get("event", "")
        if host and kind == "runner_item_on_ok" and _changed(event):
            result = self.hosts.setdefault(host, HostResult())
            if data.get("task", "") not in result.changed_tasks:
                result.changed_tasks.append(data.get("task", ""))
        if host and kind.startswith("runner_on_"):
            task = data.get("task", "")
            result = self.hosts.setdefault(host, HostResult())
            res = data.get("res", {}) or {}
            if kind == "runner_on_ok" and _changed(event) and task not in result.changed_tasks:
                result.changed_tasks.append(task)
            if kind == "runner_on_ok":
                for key, value in res.items():
                    if key.startswith(REPORT_PREFIX) and isinstance(value, list):
                        result.reports[key.removeprefix(REPORT_PREFIX)] = value
            elif kind == "runner_on_failed" and not data.get("ignore_errors"):
                result.failed_tasks.append((task, _failure_message(res)))
            elif kind == "runner_on_unreachable":
                result.failed_tasks.append((task, "unreachable: " + str(res.get("msg", "")).strip()))
            if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                self.stopped_by_preflight |= data.get("play") == PREFLIGHT_PLAY
            if self.progress:
                changed = kind == "runner_on_ok" and _changed(event)
                self.progress(host, task, "changed" if changed else kind.removeprefix("runner_on_"))
        return True  # keep ansible-runner's own event files in the private dir (removed after the run)


def _failure_message(res: dict) -> str:
    """A failed loop's msg is only "One or more items failed": add what each failed item says (which
    path, which error), or the user is left without the cause."""
    msg = str(res.get("msg", "")).strip()
    items = [item for item in res.get("results") or [] if isinstance(item, dict) and item.get("failed")]
    # Some modules keep the cause apart from msg (file: msg "chown failed", details the OS error).
    details = [f"{item.get('_ansible_item_label', item.get('item', ''))}: {str(item.get('msg', '')).strip()}"
               + (f" ({item['details']})" if item.get("details") else "") for item in items]
    return "; ".join([msg, *details]) if details else msg


def _changed(event: dict) -> bool:
    """Whether an ok event reports a change. A no_log task's result is censored down to nothing (not even
    `changed`), but the line Ansible prints for it still starts with "changed:"."""
    res = event.get("event_data", {}).get("res") or {}
    if "changed" in res:
        return bool(res["changed"])
    return str(event.get("stdout", "")).lstrip().startswith("changed:")


def _remove_orphaned_run_dirs() -> None:
    """A driver killed outright (SIGKILL, OOM) cannot remove its run dir, secrets vars file included:
    the next run removes every run dir of this user whose driver process is gone."""
    for path in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(RUN_DIR_PREFIX).split("-", 1)[0]
        try:
            if not pid.isdigit() or path.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # raises if no such process
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive under another user, or the dir went away meanwhile
            continue


def _runner_env() -> dict[str, str]:
    # ansible-runner execs ansible-playbook from PATH: put this interpreter's bin (the venv) first.
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    verbosity: int = 0,
    progress: Callable[[str, str, str], None] | None = None,
    show_output: bool = False,
    secrets: dict[str, str] | None = None,
    extravars: dict | None = None,
    lock: runlock.RunLock | None = None,
) -> RunResult:
    """Run playbooks/<playbook> (or an absolute path) against an inventory and return what happened, per
    host. Under `lock`, the inventory's run lock the caller holds; without one it takes it (exclusive)."""
    with contextlib.ExitStack() as stack:
        if lock is None:
            lock = stack.enter_context(runlock.acquire(inventory, f"a run of {Path(playbook).name}"))
        _remove_orphaned_run_dirs()
        # mkdtemp makes it 0700; the pid in its name lets a later run tell whether its owner is gone.
        private_dir = tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-")
        stack.callback(shutil.rmtree, private_dir, ignore_errors=True)
        lender = stack.enter_context(runlock.lend(lock))
        collector = _EventCollector(progress)
        command = ["-m", playbook_guard.__name__, "ansible-playbook"]
        if secrets:
            command += ["-e", f"@{write_vars_file(Path(private_dir), secrets)}"]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        try:
            runner = ansible_runner.run(
                private_data_dir=private_dir,
                project_dir=str(CONTENT_ROOT),
                # The guard, which runs ansible-playbook with the rest (ansible-runner appends -i, --limit ...).
                binary=sys.executable,
                cmdline=shlex.join([*command, str(PLAYBOOKS / playbook)]),
                inventory=str(inventory),
                limit=limit,
                tags=tags,
                verbosity=verbosity or None,
                envvars={**_runner_env(), playbook_guard.DRIVER_ENV: str(os.getpid()),
                         runlock.SOCKET_ENV: lender.address},
                extravars=extravars or None,  # never secrets: ansible-runner writes these to env/extravars
                event_handler=collector,
                # Without one, ansible-runner takes over SIGTERM/SIGINT for good and answers them by SIGKILLing
                # the playbook's process group, which orphans the forks (each in a session of its own). Here a
                # signal raises in this thread instead, and the guard is stopped below.
                cancel_callback=lambda: False,
                quiet=not show_output,
                suppress_env_files=True,
            )
        except BaseException as err:  # Ctrl-C, Stopped, a bug: the playbook must not go on alone
            playbook_guard.stop(lender.borrower, signal.SIGINT if isinstance(err, KeyboardInterrupt) else signal.SIGTERM)
            raise
        hosts = collector.hosts
        for stat_key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                               ("dark", "unreachable"), ("skipped", "skipped")):
            for host, count in ((runner.stats or {}).get(stat_key) or {}).items():
                setattr(hosts.setdefault(host, HostResult()), attr, count)
        return RunResult(playbook=playbook, rc=runner.rc, status=runner.status, hosts=hosts,
                         stopped_by_preflight=collector.stopped_by_preflight)
