"""`clearstack datasets get`: a local copy that is complete or an error, never a partial folder (the
SDK only logs a missing object and returns what it got)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .selection import Selection, select
from .settings import s3_credentials
from .listing import s3_client
from .source import parse_s3_url


class LocalCopyError(RuntimeError):
    """The copy is incomplete; the message names the missing files."""


def _missing(folder: Path, paths: list[str]) -> list[str]:
    return [p for p in paths if not (folder / p).is_file()]


def _fail_if_missing(folder: Path, paths: list[str], dataset_id: str) -> None:
    missing = _missing(folder, paths)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise LocalCopyError(f"dataset {dataset_id}: {len(missing)} of {len(paths)} file(s) could not be fetched: "
                             f"{shown}. Their objects are gone or unreadable; no partial copy is kept")


def get_copy(dataset, target: Path | None = None, selection: Selection | None = None, progress=None) -> Path:
    """Copy all files (or a selection) of a finalized dataset; returns the folder holding them."""
    paths = sorted(dataset.list_files())
    if selection is None and target is None:
        folder = Path(dataset.get_local_copy())  # the SDK's shared, read-only cache
        try:
            _fail_if_missing(folder, paths, dataset.id)
        except LocalCopyError:
            shutil.rmtree(folder, ignore_errors=True)  # or the next get would reuse the partial cache entry
            raise
        return folder
    if target is None:
        raise LocalCopyError("a copy of only some files needs a target folder (--to DIR)")
    chosen = select(paths, selection) if selection else paths
    if target.exists() and any(target.iterdir()):
        raise LocalCopyError(f"{target} is not empty; choose a new folder so nothing already there is overwritten")
    target.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_links(dataset, chosen, target, progress)
        _fail_if_missing(target, chosen, dataset.id)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _fetch_links(dataset, paths: list[str], target: Path, progress) -> None:
    links = dataset.link_entries_dict
    clients: dict[str, object] = {}
    for done, path in enumerate(paths, 1):
        entry = links.get(path)
        if entry is None:
            raise LocalCopyError(f"{path} is not an external link of dataset {dataset.id}; get the whole dataset")
        source = parse_s3_url(entry.link)
        client = clients.get(source.endpoint) or clients.setdefault(source.endpoint, s3_client(s3_credentials(source.endpoint)))
        dest = target / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        key = source.prefix.rstrip("/")
        try:
            client.download_file(source.bucket, key, str(dest))
        except Exception:  # noqa: BLE001 - reported as missing below, with every other failure
            dest.unlink(missing_ok=True)
        if progress:
            progress(f"fetched {done}/{len(paths)}")
