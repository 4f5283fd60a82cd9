"""`clearstack datasets get`: a local copy that is complete or an error, never a partial folder (the
SDK only logs a missing object and returns what it got)."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

from ..errors import ClearstackError
from .selection import Selection, select
from .settings import s3_credentials
from .listing import s3_client
from .source import parse_s3_url


class LocalCopyError(ClearstackError, RuntimeError):
    """The copy is incomplete; the message names the missing files."""


def _missing(folder: Path, paths: list[str]) -> list[str]:
    return [p for p in paths if not (folder / p).is_file()]


def _missing_message(dataset_id: str, missing: list[str], paths: list[str]) -> str:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return (f"dataset {dataset_id}: {len(missing)} of {len(paths)} file(s) could not be fetched: "
            f"{shown}. Their objects are gone or unreadable; no partial copy is kept")


def _fail_if_missing(folder: Path, paths: list[str], dataset_id: str) -> None:
    missing = _missing(folder, paths)
    if missing:
        raise LocalCopyError(_missing_message(dataset_id, missing, paths))


def _s3_client(endpoint: str, clients: dict[str, object]):
    return clients.get(endpoint) or clients.setdefault(endpoint, s3_client(s3_credentials(endpoint)))


def _unreadable_links(dataset, paths: list[str]) -> list[str]:
    """The files among paths whose S3 object cannot be read (a HEAD per external link)."""
    links = dataset.link_entries_dict
    clients: dict[str, object] = {}
    missing = []
    for path in paths:
        entry = links.get(path)
        if entry is None:
            continue
        source = parse_s3_url(entry.link)
        try:
            _s3_client(source.endpoint, clients).head_object(Bucket=source.bucket, Key=source.prefix.rstrip("/"))
        except Exception:  # noqa: BLE001 - gone, forbidden or unreachable: not readable either way
            missing.append(path)
    return missing


def get_copy(dataset, target: Path | None = None, selection: Selection | None = None, progress=None) -> Path:
    """Copy all files (or a selection) of a finalized dataset; returns the folder holding them."""
    paths = sorted(dataset.list_files())
    if selection is None and target is None:
        try:
            folder = Path(dataset.get_local_copy())  # the SDK's shared, read-only cache
        except ValueError as err:
            # A version that inherits links from its parents (a subset) is merged from theirs: one
            # missing object there makes the SDK raise "Dataset merging failed", naming nothing.
            sdk_said = str(err)
        else:
            sdk_said = None
        if sdk_said is not None:
            # The SDK's worker pool of the failed merge is freed now, while the interpreter can still
            # run its finalizer; at exit that finalizer prints a traceback on stderr.
            gc.collect()
            missing = _unreadable_links(dataset, paths)
            if not missing:
                raise LocalCopyError(f"dataset {dataset.id}: the ClearML SDK could not assemble its copy "
                                     f"({sdk_said}); no partial copy is kept")
            raise LocalCopyError(_missing_message(dataset.id, missing, paths))
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
        client = _s3_client(source.endpoint, clients)
        dest = target / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        key = source.prefix.rstrip("/")
        try:
            client.download_file(source.bucket, key, str(dest))
        except Exception:  # noqa: BLE001 - reported as missing below, with every other failure
            dest.unlink(missing_ok=True)
        if progress:
            progress(f"fetched {done}/{len(paths)}")
