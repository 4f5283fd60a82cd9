"""Every touch of the ClearML SDK's Dataset internals lives here, so an SDK upgrade is checked in one
place (the integration tests run the real SDK).

Why internals at all: the public add_external_files lists (or HEADs) every source object again, and
remove_files re-saves the whole dataset state once per call. clearstack has already listed the
source, so it writes the link entries itself and saves the state once per version.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

from clearml import Dataset
from clearml.backend_api.session.session import LoginError
from clearml.backend_interface.base import InterfaceBase
from clearml.datasets.dataset import LinkEntry

from ..errors import ClearstackError
from .plan import Entry
from .settings import check_api_settings, config_file

# The tag add_external_files puts on datasets that hold links (the web UI shows it).
_EXTERNAL_FILES_TAG = "external files"
# The system tag of every dataset's task (the SDK's Dataset.__tag): a task without it is no dataset.
DATASET_SYSTEM_TAG = "dataset"


# An unreachable API server keeps the SDK retrying for many minutes: probe it first, bounded.
_PROBE_TRIES, _PROBE_TIMEOUT_S = 3, 5


class ApiUnreachable(ClearstackError, RuntimeError):
    """The ClearML API server does not answer /debug.ping."""


def probe_api(url: str) -> None:
    last = None
    for attempt in range(_PROBE_TRIES):
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/debug.ping", timeout=_PROBE_TIMEOUT_S):
                return
        except urllib.error.HTTPError:
            return  # it answers; login reports anything else
        except (urllib.error.URLError, OSError) as err:
            last = err
            time.sleep(min(2 ** attempt, 3))
    raise ApiUnreachable(f"the ClearML API at {url} does not answer ({last}); is the server up? "
                         "`clearstack verify` checks it, and api.api_server in clearml.conf says where it is")


class ApiLoginRefused(ClearstackError, RuntimeError):
    """The ClearML API server answers but does not accept the access key and secret."""


def login() -> None:
    """Check the settings, probe the server and log in now: Dataset.get would report wrong keys only
    as "could not find Dataset"."""
    url = check_api_settings()
    probe_api(url)
    try:
        InterfaceBase._get_default_session()
    except LoginError as err:  # the SDK's text names the HTTP error, not where the keys come from
        raise ApiLoginRefused(
            f"the ClearML API at {url} refused the login ({err}); fix the access key/secret: api.credentials in "
            f"{config_file()}, or CLEARML_API_ACCESS_KEY / CLEARML_API_SECRET_KEY, which take precedence") from err


def latest(project: str, name: str) -> Dataset | None:
    """The newest finalized version of project/name, or None. Call login() first."""
    try:
        return Dataset.get(dataset_project=project, dataset_name=name, only_completed=True)
    except ValueError:  # the SDK's "could not find Dataset"
        return None


def link_entries(dataset: Dataset) -> dict[str, Entry]:
    return {path: Entry(link=e.link, size=int(e.size or 0)) for path, e in dataset.link_entries_dict.items()}


def apply_links(dataset: Dataset, add: Mapping[str, Entry], remove: list[str]) -> None:
    """Remove then add link entries and save the dataset state once."""
    entries = dataset._dataset_link_entries  # noqa: SLF001 (see module docstring)
    for path in remove:
        entries.pop(path, None)
    for path, entry in add.items():
        entries[path] = LinkEntry(link=entry.link, relative_path=path, parent_dataset_id=dataset.id, size=entry.size)
    if add:
        dataset._task.add_tags([_EXTERNAL_FILES_TAG])  # noqa: SLF001
    dataset._dirty = True  # noqa: SLF001
    dataset.update_changed_files(num_files_added=len([p for p in add if p not in remove]),
                                 num_files_modified=len([p for p in add if p in remove]),
                                 num_files_removed=len([p for p in remove if p not in add]))
    dataset._serialize()  # noqa: SLF001


def keep_only(dataset: Dataset, paths: set[str]) -> int:
    """Drop every entry (link or file) not in paths, saving the state once; returns how many were dropped."""
    links = dataset._dataset_link_entries  # noqa: SLF001
    files = dataset._dataset_file_entries  # noqa: SLF001
    dropped = [p for p in list(links) + list(files) if p not in paths]
    for path in dropped:
        links.pop(path, None)
        files.pop(path, None)
    dataset._dirty = True  # noqa: SLF001
    dataset.update_changed_files(num_files_removed=len(dropped))
    dataset._serialize()  # noqa: SLF001
    return len(dropped)


@contextlib.contextmanager
def finishing(version_id: str, what: str, verb: str, error: type[Exception]) -> Iterator[None]:
    """Around the steps that finish a created version: on any failure the half-made version is deleted,
    and a failure deep inside the SDK (e.g. an IndexError when the server lost the version midway) becomes
    `error`, one line saying what happened and what to do."""
    try:
        yield
    except error:
        _discard(version_id)
        raise
    except Exception as err:
        _discard(version_id)
        raise error(f"{what}: version {version_id} failed after it was created ({type(err).__name__}: {err}); "
                    "it was deleted if the ClearML server still had it. Check the server (`clearstack verify`), "
                    f"then run the same {verb} again") from err
    except BaseException:
        _discard(version_id)
        raise


def _discard(version_id: str) -> None:
    """Delete a half-made version; a failure here must not hide the error that made it half-made."""
    try:
        Dataset.delete(dataset_id=version_id, force=True)
    except Exception:  # noqa: BLE001 (the SDK has already logged why)
        pass
