"""Apply a validated pipeline spec: each ingest, then each subset, in the order written."""

from __future__ import annotations

from collections.abc import Callable

from .ingest import ingest
from .spec import IngestStep, SubsetStep
from .subset import subset


def run_pipeline(steps: list[IngestStep | SubsetStep], progress: Callable[[str], None] | None = None) -> list[dict]:
    results = []
    for step in steps:
        if isinstance(step, IngestStep):
            result = ingest(step.source, step.project, step.name, wildcards=step.wildcards, recursive=step.recursive,
                            root=step.dataset_path, tags=step.tags, output_uri=step.output_uri, progress=progress)
            results.append({"step": "ingest", "project": step.project, "name": step.name, **vars(result)})
        else:
            result = subset(step.selection, step.name, parent_project=step.parent_project,
                            parent_name=step.parent_name, project=step.project, tags=step.tags)
            results.append({"step": "subset", "project": step.project or step.parent_project, "name": step.name,
                            **vars(result)})
    return results
