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
import re
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
        # (host, task uuid) -> Ansible's error line of each failed item, for a loop whose result no_log hides.
        self.item_errors: dict[tuple[str, str], list[str]] = {}

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        kind = event.get("event", "")
        if host and kind == "runner_item_on_failed" and (said := _ansible_error(event.get("stdout"))):
            self.item_errors.setdefault((host, data.get("task_uuid", "")), []).append(said)
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
                result.failed_tasks.append((task, _with_pull_fix(_failure_message(
                    res, event.get("stdout", ""), self.item_errors.get((host, data.get("task_uuid", "")))))))
            elif kind == "runner_on_unreachable":
                result.failed_tasks.append((task, "unreachable: " + str(res.get("msg", "")).strip()))
            if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                self.stopped_by_preflight |= data.get("play") == PREFLIGHT_PLAY
            if self.progress:
                changed = kind == "runner_on_ok" and _changed(event)
                self.progress(host, task, "changed" if changed else kind.removeprefix("runner_on_"))
        return True  # keep ansible-runner's own event files in the private dir (removed after the run)


# What Ansible (ansible-core >= 2.19) prints before a failed result, no_log or not:
# "[ERROR]: Task failed: Module failed: <the module's msg>", then "Origin: ..." and the result.
_ANSIBLE_ERROR = re.compile(r"^\[ERROR\]: (?:Task failed: )?(?:Module failed: )?(?P<msg>.+)$", re.MULTILINE)
_NO_DETAIL = "(traceback unavailable)"
_NO_MESSAGE = "no error message from the module (run again with -v to see Ansible's output)"


def _gist(text) -> str:
    """One line of a module's stderr or traceback: a traceback's last line (the error itself), else the
    non-empty lines joined; at most 400 characters."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    if not lines or lines == [_NO_DETAIL]:
        return ""
    gist = lines[-1] if lines[0].startswith("Traceback ") else " / ".join(lines)
    return gist if len(gist) <= 400 else gist[:397] + "..."


def _ansible_error(stdout) -> str:
    match = _ANSIBLE_ERROR.search(str(stdout or ""))
    return match["msg"].strip() if match else ""


def _module_error(res: dict) -> str:
    """What a module says went wrong, from where modules put it: msg, and beside it the cause some keep
    apart (command: stderr; file: details; a module that crashed: module_stderr, its exception)."""
    msg = " ".join(line.strip() for line in str(res.get("msg") or "").splitlines() if line.strip())  # one line
    cause = next((g for g in (_gist(res.get(k)) for k in ("stderr", "details", "module_stderr", "exception")) if g), "")
    if cause and cause not in msg:
        msg = f"{msg}: {cause}" if msg else cause
    if not msg and res.get("rc") not in (None, 0):
        msg = f"exit code {res['rc']}"
    return msg


def _failure_message(res: dict, stdout: str = "", item_errors: list[str] | None = None) -> str:
    """The reason a failed task line shows; never empty. A failed loop's msg is only "One or more items
    failed": what each failed item says follows. A no_log result is censored down to nothing: Ansible's
    own error line (the event's stdout, per item for a loop) is all there is."""
    if "censored" in res:
        said = [e for e in [_ansible_error(stdout), *(item_errors or [])] if e]
        return "; ".join(["result hidden by no_log", *said]) if said else (
            "result hidden by no_log (the task's own output is censored; run it once without no_log to see why)")
    context = res.get("validate_args_context") or {}
    if res.get("argument_errors") and context.get("type") == "role":
        return _argument_spec_message(context.get("name", ""), res["argument_errors"])
    items = [item for item in res.get("results") or [] if isinstance(item, dict) and item.get("failed")]
    if items:
        details = [f"{item.get('_ansible_item_label', item.get('item', ''))}: {_module_error(item) or _NO_MESSAGE}"
                   for item in items]
        return "; ".join([str(res.get("msg") or "").strip() or "One or more items failed", *details])
    return _module_error(res) or _ansible_error(stdout) or _NO_MESSAGE


# community.docker's docker_container, when the daemon could not pull: "Error pulling image REF - <why>".
_PULL_FAILED = re.compile(r"Error pulling image (?P<image>\S+)")


def _with_pull_fix(message: str) -> str:
    """A failed pull says what went wrong, not what to do on a host without a registry: add that."""
    images = sorted(set(_PULL_FAILED.findall(message)))
    if not images:
        return message
    return (f"{message}. Fix: the host could not pull {', '.join(images)}. Let it reach a registry that has "
            "the image (or point the image variable at your mirror), or bring the images offline: `docker save` "
            "them into a tarball on the controller and list it in docker_image_bundles, which the docker role "
            "loads before any container starts (inventory/sample/group_vars/all/offline.yml); `clearstack images "
            "build minio` makes the MinIO image on the controller without any registry.")


def _argument_spec_message(role: str, errors: list) -> str:
    """A role's own argument spec check at its start (ansible-core's "Validation of arguments failed"),
    worded as preflight words its check of the later roles: which role, which variables, where to fix."""
    return (f"variables for role {role} do not match its argument spec: {'; '.join(map(str, errors))}. "
            f"Fix: set them in your inventory (group_vars or host_vars) to the type roles/{role}/README.md gives, "
            "or remove them to use the defaults.")


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
