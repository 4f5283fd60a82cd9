"""`clearstack subset`: a child version of a dataset that holds exactly a selection of its files.

Zero-copy: the child inherits the parent's entries (links to the same objects) and drops the
unselected ones in one state save; no object byte is read or written, and lineage is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ClearstackError
from . import sdk
from .selection import Selection, select


class SubsetError(ClearstackError, RuntimeError):
    """A subset that cannot be made; nothing was created."""


@dataclass
class SubsetResult:
    dataset_id: str
    parent_id: str
    files: int
    created: bool  # False: the same selection of the same parent already exists


def resolve_parent(parent_id: str | None, project: str | None, name: str | None):
    from clearml import Dataset

    if parent_id:
        try:
            return Dataset.get(dataset_id=parent_id)
        except ValueError as err:
            raise SubsetError(_not_a_parent(parent_id, err)) from err
    if not (project and name):
        raise SubsetError("name the parent by --parent-id, or by --parent-project and --parent-name")
    parent = sdk.latest(project, name)
    if parent is None:
        raise SubsetError(f"no finalized dataset {project}/{name}; `clearstack datasets list` shows what exists")
    return parent


def _not_a_parent(parent_id: str, err: ValueError) -> str:
    """Why Dataset.get refused an id: no such task, a task that is no dataset, or a dataset never finalized
    (the SDK refuses drafts), each with what to do; the SDK's own words otherwise."""
    from clearml import Task

    listed = "`clearstack datasets list` shows the ids"
    try:
        task = Task.get_task(task_id=parent_id)
    except ValueError:
        return f"no dataset with id {parent_id}; {listed}"
    if sdk.DATASET_SYSTEM_TAG not in (task.get_system_tags() or []):
        return f"{parent_id} is a ClearML task ({task.name!r}), not a dataset; {listed}"
    if task.status == "created":
        return (f"dataset {parent_id} ({task.name!r}) is a draft that was never finalized: subset a finalized "
                f"version ({listed}), or ingest it again")
    return f"dataset {parent_id} cannot be read: {err}"


def _same_subset_exists(project: str, name: str, parent_id: str, chosen: list[str]):
    """The newest version of project/name if it is a child of parent holding exactly `chosen`."""
    existing = sdk.latest(project, name)
    if existing is None or parent_id not in existing.get_dependency_graph().get(existing.id, []):
        return None
    return existing if sorted(existing.list_files()) == chosen else None


def subset(selection: Selection, name: str, *, parent_id: str | None = None, parent_project: str | None = None,
           parent_name: str | None = None, project: str | None = None, tags: list[str] | None = None) -> SubsetResult:
    selection.validate()
    sdk.login()
    parent = resolve_parent(parent_id, parent_project, parent_name)
    if not parent.is_final():
        raise SubsetError(f"dataset {parent.id} is not finalized; finalize it (or ingest again) first")
    chosen = select(parent.list_files(), selection)
    project = project or parent.project

    existing = _same_subset_exists(project, name, parent.id, chosen)
    if existing is not None:
        return SubsetResult(dataset_id=existing.id, parent_id=parent.id, files=len(chosen), created=False)

    from clearml import Dataset

    child = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=[parent.id],
                           dataset_tags=tags or None)
    with sdk.finishing(child.id, f"{project}/{name}", "subset", SubsetError):
        sdk.keep_only(child, set(chosen))
        child.upload(show_progress=False)
        child.finalize()
        files = sorted(Dataset.get(dataset_id=child.id).list_files())
        if files != chosen:
            raise SubsetError(f"subset {child.id} holds {len(files)} files, expected {len(chosen)}")
    return SubsetResult(dataset_id=child.id, parent_id=parent.id, files=len(files), created=True)
