"""`clearstack ingest`: MinIO objects -> a ClearML dataset of external links, incrementally.

Order matters for "no half-made dataset": settings, the source listing and the API login are all
checked before a dataset is created; a version that fails after creation is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ClearstackError
from . import sdk
from .listing import ListingError, list_objects
from .plan import Entry, dataset_path, plan_ingest
from .selection import output_prefix
from .settings import check_api_settings, s3_credentials
from .source import parse_s3_url, sdk_output_uri


class IngestError(ClearstackError, RuntimeError):
    """An ingest that cannot be done; nothing was created."""


@dataclass
class IngestResult:
    dataset_id: str
    files: int
    created: bool  # False: the source was unchanged and the latest version already mirrors it
    added: int = 0
    removed: int = 0
    # Objects of the source that match the wildcards but are not registered, per reason (ClearML's outputs).
    left_out: dict[str, int] = field(default_factory=dict)


def ingest(source_url: str, project: str, name: str, *, wildcards: list[str] | None = None, recursive: bool = True,
           root: str = "/", tags: list[str] | None = None, output_uri: str | None = None,
           progress: Callable[[str], None] | None = None) -> IngestResult:
    say = progress or (lambda _msg: None)
    source = parse_s3_url(source_url)
    check_api_settings()  # before listing S3: missing API settings are the cheaper error to report
    creds = s3_credentials(source.endpoint)

    # ClearML's own outputs (dataset state, previews), this ingest's or any other dataset's, are never
    # picked up: selection.choose_objects.
    say(f"listing {source.url} ...")
    chosen = list_objects(source, creds, wildcards, recursive, output_prefix(output_uri, source.endpoint, source.bucket),
                          progress=lambda n: say(f"listing {source.url}: {n} matching objects"))
    objects, left_out = chosen.kept, chosen.left_out
    if not objects:
        raise ListingError(f"nothing under {source.url} matches {wildcards or ['*']}"
                           f"{'' if recursive else ' (not recursive)'}"
                           f"{f' ({chosen.left_out_text()})' if left_out else ''}; check the prefix and the wildcards")
    listed = {dataset_path(key, source.prefix, root): Entry(source.object_url(key), size) for key, size in objects.items()}

    sdk.login()
    parent = sdk.latest(project, name)
    current = sdk.link_entries(parent) if parent else {}
    plan = plan_ingest(current, listed)
    if parent is not None and plan.empty:
        return IngestResult(dataset_id=parent.id, files=len(current), created=False, left_out=left_out)

    from clearml import Dataset  # imported late: the SDK reads its configuration at import time

    dataset = Dataset.create(dataset_name=name, dataset_project=project, dataset_tags=tags or None,
                             parent_datasets=[parent.id] if parent else None, output_uri=sdk_output_uri(output_uri))
    with sdk.finishing(dataset.id, f"{project}/{name}", "ingest", IngestError):
        sdk.apply_links(dataset, plan.add, plan.remove)
        dataset.upload(show_progress=False)
        dataset.finalize()
        files = len(Dataset.get(dataset_id=dataset.id).list_files())
        if files != len(listed):
            raise IngestError(f"dataset {dataset.id} holds {files} files but the source lists {len(listed)}")
    return IngestResult(dataset_id=dataset.id, files=files, created=True, added=len(plan.add),
                        removed=len([p for p in plan.remove if p not in plan.add]), left_out=left_out)
