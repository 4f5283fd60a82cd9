import pytest

from clearstack.datasets.selection import Selection, SelectionError, select

PATHS = [f"imagens/raw/img{i:03d}.png" for i in range(10)] + ["imagens/raw/notes.txt", "imagens/val/v1.png"]


def test_wildcard_matches_file_names_and_paths():
    assert select(PATHS, Selection(wildcard="*.txt")) == ["imagens/raw/notes.txt"]
    assert select(PATHS, Selection(wildcard="imagens/val/*")) == ["imagens/val/v1.png"]


def test_prefix_and_max_count_take_the_first_paths_in_order():
    assert select(PATHS, Selection(prefix="/imagens/raw/", wildcard="*.png", max_count=2)) == [
        "imagens/raw/img000.png", "imagens/raw/img001.png"]


def test_sample_is_reproducible_with_a_seed_and_differs_across_seeds():
    one = select(PATHS, Selection(wildcard="*.png", sample=3, seed=7))
    assert one == select(PATHS, Selection(wildcard="*.png", sample=3, seed=7))
    assert len(one) == 3 and all(p.endswith(".png") for p in one)
    assert any(select(PATHS, Selection(wildcard="*.png", sample=3, seed=s)) != one for s in range(1, 6))


def test_fraction_rounds_and_keeps_at_least_one():
    assert len(select(PATHS, Selection(fraction=0.5, seed=1))) == 6
    assert len(select(PATHS, Selection(fraction=0.01, seed=1))) == 1


def test_listing_keeps_exactly_the_named_paths():
    assert select(PATHS, Selection(listing=("imagens/val/v1.png", "/imagens/raw/img003.png", ""))) == [
        "imagens/raw/img003.png", "imagens/val/v1.png"]


@pytest.mark.parametrize("selection,message", [
    (Selection(listing=("imagens/raw/missing.png",)), "not in the parent dataset: imagens/raw/missing.png"),
    (Selection(sample=50, seed=1), "sample of 50 files was asked, but only 12 file"),
    (Selection(sample=2), "needs a seed"),
    (Selection(wildcard="*.jpg"), "matches no file"),
    (Selection(max_count=2, fraction=0.5), "choose one of"),
    (Selection(max_count=0), "at least 1"),
    (Selection(fraction=1.5), r"fraction must be in \(0, 1\]"),
    (Selection(), "empty selection"),
])
def test_selections_that_cannot_be_met_are_refused(selection, message):
    with pytest.raises(SelectionError, match=message):
        select(PATHS, selection)
