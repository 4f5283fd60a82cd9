"""sdk.finishing: what a user sees when finishing a created version fails, and that the half-made
version is always deleted (the server calls are replaced by a record of the deletions)."""

from __future__ import annotations

import pytest

from clearstack.datasets import sdk
from clearstack.datasets.subset import SubsetError


@pytest.fixture
def discarded(monkeypatch) -> list[str]:
    deleted: list[str] = []
    monkeypatch.setattr(sdk, "_discard", deleted.append)
    return deleted


def test_an_sdk_failure_becomes_one_line_naming_the_version_and_the_fix(discarded):
    with pytest.raises(SubsetError) as caught, sdk.finishing("v1", "proj/sub", "subset", SubsetError):
        raise IndexError("list index out of range")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("proj/sub: version v1 failed after it was created (IndexError: list index out of range)")
    assert message.endswith("then run the same subset again")
    assert isinstance(caught.value.__cause__, IndexError)  # kept for -v debugging, not printed
    assert discarded == ["v1"]


def test_our_own_error_passes_unchanged_and_the_version_is_deleted(discarded):
    original = SubsetError("subset v2 holds 3 files, expected 4")
    with pytest.raises(SubsetError) as caught, sdk.finishing("v2", "proj/sub", "subset", SubsetError):
        raise original
    assert caught.value is original
    assert discarded == ["v2"]


def test_an_interrupt_is_not_swallowed_and_the_version_is_deleted(discarded):
    with pytest.raises(KeyboardInterrupt), sdk.finishing("v3", "proj/sub", "subset", SubsetError):
        raise KeyboardInterrupt
    assert discarded == ["v3"]


def test_a_finished_version_is_kept(discarded):
    with sdk.finishing("v4", "proj/sub", "subset", SubsetError):
        pass
    assert discarded == []
