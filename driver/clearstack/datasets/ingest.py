"""`clearstack ingest`: MinIO objects -> a ClearML dataset of external links, incrementally.

Order matters for "no half-made dataset": settings, the source listing and the API login are all
checked before a dataset is created; a version that fails after creation is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import sdk
from .listing import ListingError, list_objects
from .plan import Entry, dataset_path, plan_ingest
from .settings import check_api_settings, s3_credentials
from .source import parse_s3_url, sdk_output_uri


class IngestError(RuntimeError):
    """An ingest that cannot be done; nothing was created."""


@dataclass
class IngestResult:
    dataset_id: str
    files: int
    created: bool  # False: the source was unchanged and the latest version already mirrors it
    added: int = 0
    removed: int = 0


def ingest(source_url: str, project: str, name: str, *, wildcards: list[str] | None = None, recursive: bool = True,
           root: str = "/", tags: list[str] | None = None, output_uri: str | None = None,
           progress: Callable[[str], None] | None = None) -> IngestResult:
    say = progress or (lambda _msg: None)
    source = parse_s3_url(source_url)
    check_api_settings()  # before listing S3: missing API settings are the cheaper error to report
    creds = s3_credentials(source.endpoint)

    # ClearML's own outputs (dataset state, previews) must never be picked up by a later ingest.
    exclude = ()
    if output_uri:
        out = output_uri.rstrip("/") + "/"
        if out.startswith(f"s3://{source.endpoint}/{source.bucket}/"):
            exclude = (out.split(f"/{source.bucket}/", 1)[1],)

    say(f"listing {source.url} ...")
    objects = list_objects(source, creds, wildcards, recursive, exclude,
                           progress=lambda n: say(f"listing {source.url}: {n} matching objects"))
    if not objects:
        raise ListingError(f"nothing under {source.url} matches {wildcards or ['*']}"
                           f"{'' if recursive else ' (not recursive)'}; check the prefix and the wildcards")
    listed = {dataset_path(key, source.prefix, root): Entry(source.object_url(key), size) for key, size in objects.items()}

    sdk.login()
    parent = sdk.latest(project, name)
    current = sdk.link_entries(parent) if parent else {}
    plan = plan_ingest(current, listed)
    if parent is not None and plan.empty:
        return IngestResult(dataset_id=parent.id, files=len(current), created=False)

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
                        removed=len([p for p in plan.remove if p not in plan.add]))
