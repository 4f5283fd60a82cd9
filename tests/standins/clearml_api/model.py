"""Projects, tasks and the endpoints the clearml SDK's Dataset flows call (stdlib only).

Documents are plain dicts shaped like the apiserver's JSON. Only what the SDK reads back is
modelled; unknown endpoints answer 400 and are recorded in ``Store.unknown_calls`` so that a
test can assert the SDK needed nothing more. One lock serialises every call: the SDK's
background threads write to the same task concurrently.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import secrets
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .auth import COMPANY_ID, User

log = logging.getLogger("clearml_api_standin")

STATE_FORMAT = 1
DEFAULT_PAGE_SIZE = 500
# A published task is final: no edits, no status changes (the real server refuses them too).
FINAL_STATUSES = {"published"}
DATE_FIELDS = {"created", "started", "completed", "published", "last_update", "last_change", "status_changed"}


class ApiError(Exception):
    """A ClearML-style error: HTTP ``code`` (400/401/500, never 429/502/503) and a sub-code."""

    def __init__(self, code: int, subcode: int, msg: str):
        super().__init__(msg)
        self.code, self.subcode, self.msg = code, subcode, msg


def _bad(subcode: int, msg: str) -> ApiError:
    return ApiError(400, subcode, msg)


# ---------------------------------------------------------------------------------------------
# Generic query helpers (get_all filters, ordering, paging, only_fields)
# ---------------------------------------------------------------------------------------------

def _get_path(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _project_fields(doc: dict, only_fields: list[str] | None) -> dict:
    """Copy of ``doc`` with just the dotted ``only_fields`` (the real server always adds ``id``)."""
    if not only_fields:
        return copy.deepcopy(doc)
    out: dict = {"id": doc.get("id")}
    for path in only_fields:
        src, dst = doc, out
        parts = path.split(".")
        for i, part in enumerate(parts):
            if not isinstance(src, dict) or part not in src:
                break
            if i == len(parts) - 1:
                dst[part] = copy.deepcopy(src[part])
            else:
                src = src[part]
                dst = dst.setdefault(part, {})
    return out


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _tags_match(tags: list[str], spec: list[str]) -> bool:
    """The apiserver's tag filter: plain values are OR-ed; "-x" and "__$not" followed by "x"
    exclude x; after "__$all" values are required (AND); "__$any" switches back to OR."""
    tags = set(tags or [])
    want_all, want_any, exclude = [], [], []
    mode, negate = "any", False
    for item in spec:
        if item in ("__$all", "__$and"):
            mode = "all"
        elif item in ("__$any", "__$or"):
            mode = "any"
        elif item == "__$not":
            negate = True
        elif item == "__$nop":
            continue
        elif negate or (isinstance(item, str) and item.startswith("-")):
            exclude.append(item if negate else item[1:])
            negate = False
        else:
            (want_all if mode == "all" else want_any).append(item)
    return (all(t in tags for t in want_all)
            and (not want_any or any(t in tags for t in want_any))
            and not any(t in tags for t in exclude))


def _values_match(value: Any, spec: Any) -> bool:
    """Membership filter; "-x" entries exclude (status/type/user filters accept that in the real server)."""
    wanted = _as_list(spec)
    if not wanted:
        return True
    include = [w for w in wanted if not (isinstance(w, str) and w.startswith("-"))]
    exclude = [w[1:] for w in wanted if isinstance(w, str) and w.startswith("-")]
    if value in exclude:
        return False
    return not include or value in include


def _dates_match(value: str | None, spec: Any) -> bool:
    # ["<2021-01-01", ">=2020-01-01"]: ISO strings of one format compare correctly as strings.
    for cond in _as_list(spec):
        m = re.match(r"^(>=|<=|>|<)?(.*)$", str(cond))
        op, bound = m.group(1) or "==", m.group(2)
        if value is None:
            return False
        ok = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound,
              "==": value.startswith(bound)}[op]
        if not ok:
            return False
    return True


def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE)  # the apiserver's name patterns are case-insensitive
    except re.error as ex:
        raise _bad(0, f"Invalid regular expression {pattern!r}: {ex}")


def _field_text(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [value if isinstance(value, str) else json.dumps(value)]


# Filter keys that are paging/projection controls, not fields.
_CONTROL_KEYS = {"only_fields", "order_by", "page", "page_size", "size", "scroll_id", "refresh_scroll",
                 "search_hidden", "shallow_search", "include_stats", "allow_public", "_allow_extra_fields_",
                 "check_own_contents", "include_stats_filter", "stats_for_state", "stats_with_children",
                 "non_public", "active_users", "include_subprojects"}


class Store:
    """All server state. Every public method is called with the lock held by ``handle``."""

    def __init__(self, state_file: str | None = None):
        self.lock = threading.RLock()
        self.state_file = state_file
        self.projects: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.token_secret = secrets.token_bytes(32)
        self.events_added = Counter()  # task id -> events received (the events themselves are dropped)
        self.calls = Counter()  # endpoint -> count, to report which endpoints a flow needed
        self.unknown_calls: list[str] = []
        self.unhandled_filters: set[str] = set()
        self.closed = False
        self._last_ts = datetime.now(timezone.utc)
        self._seq = 0
        self._endpoints: dict[str, tuple[Callable, bool]] = {}
        self._register()
        if state_file and os.path.exists(state_file):
            self._load()

    # -- persistence -------------------------------------------------------------------------
    # The whole state is rewritten (atomically) after every mutating call: a call the SDK saw
    # succeed survives a restart, which is what the reliability tests restart the API for.

    def _load(self) -> None:
        with open(self.state_file, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.state_file}: unsupported state format {state.get('format')!r}")
        self.projects = state.get("projects", {})
        self.tasks = state.get("tasks", {})
        # The real server's token secret is fixed in its config, so tokens outlive a restart.
        self.token_secret = bytes.fromhex(state["token_secret"])
        self._seq = state.get("seq", 0)

    def save(self) -> None:
        if not self.state_file:
            return
        state = {"format": STATE_FORMAT, "token_secret": self.token_secret.hex(), "seq": self._seq,
                 "projects": self.projects, "tasks": self.tasks}
        tmp = f"{self.state_file}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)

    # -- dispatch ----------------------------------------------------------------------------

    def _register(self) -> None:
        def add(name: str, fn: Callable, mutates: bool = False) -> None:
            self._endpoints[name] = (fn, mutates)

        # Called by the SDK's Dataset flows (create/add/upload/finalize/get/get_local_copy, child
        # datasets, publish, delete); auth.login and debug.ping live in the HTTP layer.
        add("projects.create", self.projects_create, True)
        add("projects.get_all", self.projects_get_all)
        add("projects.get_by_id", self.projects_get_by_id)
        add("projects.update", self.projects_update, True)
        add("tasks.create", self.tasks_create, True)
        add("tasks.get_by_id", self.tasks_get_by_id)
        add("tasks.get_all", self.tasks_get_all)
        add("tasks.edit", self.tasks_edit, True)
        add("tasks.ping", self.tasks_ping)
        for action, status in (("started", "in_progress"), ("completed", "completed"), ("publish", "published"),
                               ("stopped", "stopped"), ("failed", "failed"), ("close", "closed")):
            add(f"tasks.{action}", self._status_endpoint(action, status), True)
        add("tasks.add_or_update_artifacts", self.tasks_add_or_update_artifacts, True)
        add("tasks.edit_hyper_params", self.tasks_edit_hyper_params, True)
        add("tasks.delete", self.tasks_delete, True)
        add("models.get_all", self.models_get_all)
        add("events.add_batch", self.events_add_batch)
        add("events.get_task_events", self.events_get_task_events)
        # Other calls a dataset's Task object can make (tags, metadata, failures). Not seen in the
        # flows; their answers are checked against the SDK's own response models by a test.
        add("tasks.update", self.tasks_update, True)
        add("tasks.delete_artifacts", self.tasks_delete_artifacts, True)
        add("tasks.delete_hyper_params", self.tasks_delete_hyper_params, True)
        add("tasks.get_hyper_params", self.tasks_get_hyper_params)
        add("tasks.edit_configuration", self.tasks_edit_configuration, True)
        add("tasks.get_configurations", self.tasks_get_configurations)
        add("tasks.set_requirements", self.tasks_set_requirements, True)
        add("tasks.add_or_update_model", self.tasks_add_or_update_model, True)
        add("events.add", self.events_add)

    def close(self) -> None:
        """Refuse further calls; returns once a call in progress (and its save) has finished.
        An in-process "restart" needs this: the old server's handler threads must not write
        the state file after the new server has read it."""
        with self.lock:
            self.closed = True

    def handle(self, endpoint: str, data: Any, user: User) -> dict:
        with self.lock:
            if self.closed:
                # Behave like a dead process: drop the connection without an answer.
                raise ConnectionAbortedError("the stand-in is stopping")
            self.calls[endpoint] += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s", endpoint, json.dumps(data)[:2000])
            entry = self._endpoints.get(endpoint)
            if entry is None:
                self.unknown_calls.append(endpoint)
                log.warning("unknown endpoint %s called with %s", endpoint, json.dumps(data)[:500])
                raise _bad(0, f"Endpoint {endpoint} is not implemented by the ClearML API stand-in")
            fn, mutates = entry
            if not isinstance(data, (dict, list)):
                data = {}
            result = fn(data, user)
            if mutates:
                self.save()
            return result

    # -- helpers -----------------------------------------------------------------------------

    def _now(self) -> str:
        # Strictly increasing timestamps: Dataset.get picks the latest by "-last_update", and two
        # updates inside one clock tick must still sort in the order they happened.
        now = datetime.now(timezone.utc)
        if now <= self._last_ts:
            now = self._last_ts + timedelta(microseconds=1)
        self._last_ts = now
        return now.isoformat()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _task(self, task_id: Any) -> dict:
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise _bad(101, f"Invalid task id: id={task_id}")
        return task

    def _project(self, project_id: Any) -> dict:
        project = self.projects.get(project_id) if isinstance(project_id, str) else None
        if project is None:
            raise _bad(101, f"Invalid project id: id={project_id}")
        return project

    @staticmethod
    def _public(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    def _query(self, docs: list[dict], data: dict, text_fields: tuple[str, ...],
               field_filters: dict[str, Callable[[dict, Any], bool]]) -> tuple[list[dict], str | None]:
        """Filter, order, page and project ``docs`` as the apiserver's get_all does."""
        # Hidden documents (system tag "hidden", e.g. dataset projects) only show up when asked
        # for, or when the caller names them by id.
        hidden_ok = bool(data.get("search_hidden")) or bool(_as_list(data.get("id")))
        result = []
        for doc in docs:
            if not hidden_ok and "hidden" in (doc.get("system_tags") or []):
                continue
            if not self._doc_matches(doc, data, text_fields, field_filters):
                continue
            result.append(doc)

        # Stable multi-key sort: apply keys from the least significant one. Default: creation order.
        result.sort(key=lambda d: d.get("_seq", 0))
        for key in reversed(_as_list(data.get("order_by"))):
            if not isinstance(key, str) or not key.strip("-"):
                continue
            desc, field = key.startswith("-"), key.lstrip("-")
            present = [d for d in result if _get_path(d, field) is not None]
            missing = [d for d in result if _get_path(d, field) is None]
            present.sort(key=lambda d: _sort_key(_get_path(d, field)), reverse=desc)
            # Like MongoDB, a missing value sorts lowest.
            result = (present + missing) if desc else (missing + present)

        scroll_id = None
        if data.get("scroll_id") is not None or data.get("size") is not None:
            # Scroll paging: a stateless offset, so it survives a server restart.
            offset = 0
            sid = data.get("scroll_id")
            if sid and not data.get("refresh_scroll"):
                m = re.match(r"^off-(\d+)$", str(sid))
                if not m:
                    raise _bad(0, f"Invalid scroll id {sid!r}")
                offset = int(m.group(1))
            size = int(data.get("size") or DEFAULT_PAGE_SIZE)
            result = result[offset:offset + size]
            scroll_id = f"off-{offset + len(result)}"
        elif data.get("page") is not None or data.get("page_size") is not None:
            page = int(data.get("page") or 0)
            page_size = int(data.get("page_size") or DEFAULT_PAGE_SIZE)
            result = result[page * page_size:(page + 1) * page_size]

        only = _as_list(data.get("only_fields")) or None
        return [_project_fields(self._public(d), only) for d in result], scroll_id

    def _doc_matches(self, doc: dict, data: dict, text_fields: tuple[str, ...],
                     field_filters: dict[str, Callable[[dict, Any], bool]]) -> bool:
        for key, spec in data.items():
            if key in _CONTROL_KEYS or spec is None:
                continue
            if key in field_filters:
                if not field_filters[key](doc, spec):
                    return False
            elif key == "id":
                if _as_list(spec) and doc.get("id") not in _as_list(spec):
                    return False
            elif key in ("system_tags", "tags"):
                if _as_list(spec) and not _tags_match(doc.get(key) or [], _as_list(spec)):
                    return False
            elif key in DATE_FIELDS:
                if not _dates_match(doc.get(key), spec):
                    return False
            elif key == "search_text":
                needle = str(spec).lower()
                if needle and not any(needle in t.lower() for f in text_fields for t in _field_text(doc.get(f))):
                    return False
            elif key in ("_any_", "_all_"):
                if not isinstance(spec, dict) or not spec.get("pattern"):
                    continue
                rx = _regex(spec["pattern"])
                hits = [any(rx.search(t) for t in _field_text(_get_path(doc, f))) for f in spec.get("fields", [])]
                if hits and not (any(hits) if key == "_any_" else all(hits)):
                    return False
            else:
                # Anything else: an equality/membership filter on a (dotted) field. Logged once, so
                # that a filter the SDK starts using shows up while developing against the stand-in.
                if key not in self.unhandled_filters:
                    self.unhandled_filters.add(key)
                    log.info("generic filter on field %r", key)
                if not _values_match(_get_path(doc, key), spec):
                    return False
        return True

    # -- projects ----------------------------------------------------------------------------

    def _create_project(self, name: str, user: User, data: dict | None = None) -> dict:
        data = data or {}
        now = self._now()
        parent_name, _, basename = name.rpartition("/")
        parent_id = None
        if parent_name:
            # Like the real server: "a/b/c" is a project "c" under "a/b"; missing parents are created.
            parent = next((p for p in self.projects.values() if p["name"] == parent_name), None)
            parent_id = (parent or self._create_project(parent_name, user))["id"]
        project = {
            "id": uuid.uuid4().hex, "name": name, "basename": basename, "parent": parent_id,
            "description": data.get("description") or "", "system_tags": list(data.get("system_tags") or []),
            "tags": list(data.get("tags") or []), "default_output_destination": data.get("default_output_destination"),
            "user": user.id, "company": COMPANY_ID, "created": now, "last_update": now, "_seq": self._next_seq(),
        }
        self.projects[project["id"]] = project
        return project

    def projects_create(self, data: dict, user: User) -> dict:
        name = (data.get("name") or "").strip().strip("/")
        if not name or "//" in name:
            raise _bad(403, f"Invalid project name {data.get('name')!r}")
        if any(p["name"] == name for p in self.projects.values()):
            raise _bad(403, f"Project with the same name already exists: name={name}")
        return {"id": self._create_project(name, user, data)["id"]}

    def projects_get_all(self, data: dict, user: User) -> dict:
        filters = {
            "name": lambda d, s: bool(_regex(str(s)).search(d.get("name") or "")),
            "basename": lambda d, s: bool(_regex(str(s)).search(d.get("basename") or "")),
            "description": lambda d, s: bool(_regex(str(s)).search(d.get("description") or "")),
            "parent": lambda d, s: _values_match(d.get("parent"), s),
        }
        docs, scroll_id = self._query(list(self.projects.values()), data, ("id", "name", "description"), filters)
        out = {"projects": docs}
        if scroll_id:
            out["scroll_id"] = scroll_id
        return out

    def projects_get_by_id(self, data: dict, user: User) -> dict:
        return {"project": self._public(self._project(data.get("project")))}

    def projects_update(self, data: dict, user: User) -> dict:
        project = self._project(data.get("project"))
        fields = {k: v for k, v in data.items()
                  if k in ("description", "system_tags", "tags", "default_output_destination")}
        if data.get("name") and data["name"] != project["name"]:
            if any(p["name"] == data["name"] for p in self.projects.values()):
                raise _bad(403, f"Project with the same name already exists: name={data['name']}")
            fields["name"] = data["name"]
            fields["basename"] = data["name"].rpartition("/")[2]
        project.update(fields)
        project["last_update"] = self._now()
        return {"updated": 1, "fields": fields}

    # -- tasks -------------------------------------------------------------------------------

    def tasks_create(self, data: dict, user: User) -> dict:
        if not data.get("name") or not data.get("type"):
            raise _bad(0, "Validation error: name and type are required")
        if data.get("project"):
            self._project(data["project"])
        now = self._now()
        task = {
            "id": uuid.uuid4().hex, "name": data["name"], "type": data["type"], "status": "created",
            "project": data.get("project"), "parent": data.get("parent"), "comment": data.get("comment") or "",
            "tags": list(data.get("tags") or []), "system_tags": list(data.get("system_tags") or []),
            "user": user.id, "company": COMPANY_ID, "created": now, "last_update": now, "last_change": now,
            "status_changed": now, "last_changed_by": user.id,
            "script": data.get("script") or {}, "execution": data.get("execution") or {},
            "hyperparams": data.get("hyperparams") or {}, "configuration": data.get("configuration") or {},
            "runtime": data.get("runtime") or {}, "models": data.get("models") or {"input": [], "output": []},
            "container": data.get("container") or {}, "output": {}, "last_iteration": 0, "last_metrics": {},
            "_seq": self._next_seq(),
        }
        task["execution"].setdefault("artifacts", [])
        if data.get("output_dest"):
            task["output"]["destination"] = data["output_dest"]
        for extra in ("input", "status_message", "status_reason"):
            if data.get(extra) is not None:
                task[extra] = data[extra]
        self.tasks[task["id"]] = task
        return {"id": task["id"]}

    def tasks_get_by_id(self, data: dict, user: User) -> dict:
        return {"task": self._public(self._task(data.get("task")))}

    def tasks_get_all(self, data: dict, user: User) -> dict:
        filters = {
            "name": lambda d, s: bool(_regex(str(s)).search(d.get("name") or "")),
            "project": lambda d, s: not _as_list(s) or d.get("project") in _as_list(s),
            "status": lambda d, s: _values_match(d.get("status"), s),
            "type": lambda d, s: _values_match(d.get("type"), s),
            "user": lambda d, s: _values_match(d.get("user"), s),
            "parent": lambda d, s: _values_match(d.get("parent"), s),
        }
        docs, scroll_id = self._query(list(self.tasks.values()), data,
                                      ("id", "name", "comment", "hyperparams", "runtime"), filters)
        out = {"tasks": docs}
        if scroll_id:
            out["scroll_id"] = scroll_id
        return out

    def _touch(self, task: dict, user: User) -> str:
        now = self._now()
        task["last_update"] = task["last_change"] = now
        task["last_changed_by"] = user.id
        return now

    def _editable(self, task: dict, data: dict) -> None:
        # The real server only edits drafts unless "force" is passed, and never a published task.
        if task["status"] in FINAL_STATUSES:
            raise _bad(110, f"Invalid task status: task is {task['status']}, id={task['id']}")
        if task["status"] != "created" and not data.get("force"):
            raise _bad(110, f"Invalid task status: expected created (use force), id={task['id']}")

    def tasks_edit(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        self._editable(task, data)
        fields = {k: v for k, v in data.items() if k not in ("task", "force", "id", "status", "user", "company")}
        if "project" in fields and fields["project"]:
            self._project(fields["project"])
        if isinstance(fields.get("execution"), dict) and "artifacts" not in fields["execution"]:
            # Artifacts have their own endpoints; an edit of "execution" without them keeps them.
            fields["execution"] = dict(fields["execution"], artifacts=task["execution"].get("artifacts", []))
        if "output_dest" in fields:
            task.setdefault("output", {})["destination"] = fields.pop("output_dest")
        task.update(copy.deepcopy(fields))
        self._touch(task, user)
        return {"updated": 1, "fields": fields}

    def tasks_update(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        fields = {}
        for key in ("name", "tags", "system_tags", "comment", "project", "created"):
            if key in data:
                fields[key] = data[key]
        if "output__error" in data:
            task.setdefault("output", {})["error"] = data["output__error"]
        if fields.get("project"):
            self._project(fields["project"])
        task.update(copy.deepcopy(fields))
        self._touch(task, user)
        return {"updated": 1, "fields": fields}

    def tasks_ping(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        task["last_worker_report"] = self._now()
        return {}

    def _status_endpoint(self, action: str, status: str) -> Callable[[dict, User], dict]:
        def change(data: dict, user: User) -> dict:
            task = self._task(data.get("task"))
            if task["status"] in FINAL_STATUSES and status != task["status"]:
                raise _bad(110, f"Invalid task status: cannot change a {task['status']} task to {status}")
            now = self._touch(task, user)
            fields = {"status": status, "status_changed": now,
                      "status_reason": data.get("status_reason") or "",
                      "status_message": data.get("status_message") or ""}
            if status == "in_progress":
                fields["started"] = now
            elif status in ("completed", "stopped", "failed", "closed"):
                fields["completed"] = now
            if status == "published" or (action == "completed" and data.get("publish")):
                fields["status"] = "published"
                fields["published"] = now
            task.update(fields)
            out: dict = {"updated": 1, "fields": fields}
            if action == "started":
                out["started"] = 1
            if action == "completed":
                out["published"] = 1 if fields["status"] == "published" else 0
            return out
        change.__name__ = f"tasks_{action}"
        return change

    def tasks_add_or_update_artifacts(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        artifacts = task.setdefault("execution", {}).setdefault("artifacts", [])
        index = {(a.get("key"), a.get("mode", "output")): i for i, a in enumerate(artifacts)}
        for art in _as_list(data.get("artifacts")):
            art = dict(art)
            art.setdefault("mode", "output")
            key = (art.get("key"), art["mode"])
            if key in index:
                artifacts[index[key]] = art
            else:
                index[key] = len(artifacts)
                artifacts.append(art)
        self._touch(task, user)
        return {"updated": 1}

    def tasks_delete_artifacts(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        drop = {(a.get("key"), a.get("mode", "output")) for a in _as_list(data.get("artifacts"))}
        arts = task.setdefault("execution", {}).setdefault("artifacts", [])
        kept = [a for a in arts if (a.get("key"), a.get("mode", "output")) not in drop]
        task["execution"]["artifacts"] = kept
        self._touch(task, user)
        return {"deleted": len(arts) - len(kept)}

    def tasks_edit_hyper_params(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        hyper = task.setdefault("hyperparams", {})
        replace = data.get("replace_hyperparams") or "none"
        items = _as_list(data.get("hyperparams"))
        if replace == "all":
            hyper.clear()
        elif replace == "section":
            for section in {p.get("section") for p in items}:
                hyper.pop(section, None)
        for p in items:
            hyper.setdefault(p.get("section") or "General", {})[p["name"]] = dict(p)
        self._touch(task, user)
        return {"updated": 1}

    def tasks_delete_hyper_params(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        hyper = task.setdefault("hyperparams", {})
        deleted = 0
        for p in _as_list(data.get("hyperparams")):
            section = p.get("section")
            if p.get("name"):
                deleted += hyper.get(section, {}).pop(p["name"], None) is not None
            else:
                deleted += hyper.pop(section, None) is not None
        self._touch(task, user)
        return {"deleted": deleted}

    def tasks_get_hyper_params(self, data: dict, user: User) -> dict:
        return {"params": [
            {"task": tid, "hyperparams": [p for sec in self._task(tid).get("hyperparams", {}).values()
                                          for p in sec.values()]}
            for tid in _as_list(data.get("tasks"))]}

    def tasks_edit_configuration(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        conf = task.setdefault("configuration", {})
        if data.get("replace_configuration"):
            conf.clear()
        for item in _as_list(data.get("configuration")):
            conf[item["name"]] = dict(item)
        self._touch(task, user)
        return {"updated": 1}

    def tasks_get_configurations(self, data: dict, user: User) -> dict:
        names = _as_list(data.get("names"))
        return {"configurations": [
            {"task": tid, "configuration": [c for n, c in self._task(tid).get("configuration", {}).items()
                                            if not names or n in names]}
            for tid in _as_list(data.get("tasks"))]}

    def tasks_set_requirements(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        task.setdefault("script", {})["requirements"] = data.get("requirements") or {}
        self._touch(task, user)
        return {"updated": 1, "fields": {"script.requirements": data.get("requirements")}}

    def tasks_add_or_update_model(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        kind = data.get("type") or "output"
        models = task.setdefault("models", {}).setdefault(kind, [])
        models[:] = [m for m in models if m.get("name") != data.get("name")]
        models.append({"name": data.get("name"), "model": data.get("model")})
        self._touch(task, user)
        return {"updated": 1}

    def tasks_delete(self, data: dict, user: User) -> dict:
        task = self._task(data.get("task"))
        if task["status"] in ("in_progress", "published") and not data.get("force"):
            raise _bad(110, f"Invalid task status: cannot delete a {task['status']} task without force")
        del self.tasks[task["id"]]
        out = {"deleted": True, "updated_children": 0, "updated_models": 0, "events": {}}
        if data.get("return_file_urls"):
            # The SDK deletes these files from storage itself (the server never holds them).
            out["urls"] = {"model_urls": [], "event_urls": [],
                           "artifact_urls": [a["uri"] for a in task.get("execution", {}).get("artifacts", [])
                                             if a.get("uri")]}
        return out

    # -- models ------------------------------------------------------------------------------
    # Datasets register no models; the SDK only asks for a task's models when deleting it.

    def models_get_all(self, data: dict, user: User) -> dict:
        return {"models": []}

    # -- events ------------------------------------------------------------------------------
    # The SDK reports logs and dataset previews as events. Nothing reads them back in the flows
    # we serve, so they are counted and dropped (keeping them would only grow memory).

    def events_add_batch(self, data: Any, user: User) -> dict:
        events = data if isinstance(data, list) else [data]  # JSON lines arrive as a list
        for ev in events:
            self.events_added[ev.get("task") if isinstance(ev, dict) else None] += 1
        return {"added": len(events), "errors": 0, "errors_info": {}}

    def events_add(self, data: dict, user: User) -> dict:
        self.events_added[data.get("task")] += 1
        return {"added": 1, "errors": 0}

    def events_get_task_events(self, data: dict, user: User) -> dict:
        # Asked when deleting a task (to find debug-image files to remove): nothing is kept.
        return {"events": [], "returned": 0, "total": 0, "scroll_id": None}


def _sort_key(value: Any) -> Any:
    # Mixed types (e.g. str and None were split off already) compare via a type rank.
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True))
