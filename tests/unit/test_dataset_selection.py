import pytest

from clearstack.datasets.selection import (
    LEFT_OUT_DATASET_OUTPUTS,
    LEFT_OUT_OUTPUT_URI,
    LEFT_OUT_WRITE_CHECKS,
    Selection,
    SelectionError,
    choose_objects,
    output_prefix,
    path_matches,
    select,
)

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


# ---- the wildcard matcher (ingest's --wildcard and the selection's) ----

@pytest.mark.parametrize("pattern,path,matches", [
    ("*.png", "a.png", True),
    ("*.png", "cam0/deep/a.png", True),       # no '/': the file name, at any depth
    ("img0[12].png", "cam1/img02.png", True),
    ("img0[!12].png", "cam1/img02.png", False),
    ("cam0/*.png", "cam0/a.png", True),
    ("cam0/*.png", "cam1/a.png", False),
    ("cam0/*.png", "cam0/sub/a.png", True),   # '*' crosses '/', as in fnmatch and the ClearML SDK
    ("**/*.png", "a.png", True),              # '**/' is any number of folders, none included
    ("**/*.png", "cam0/a.png", True),
    ("**/*.png", "cam0/sub/a.png", True),
    ("**/*.png", "notes.txt", False),
    ("raw/**/x.png", "raw/x.png", True),
    ("raw/**/x.png", "raw/a/b/x.png", True),
    ("raw/**/x.png", "rawx.png", False),
    ("raw/**", "raw/a/b.png", True),
    ("/imagens/*.png", "imagens/a.png", True),
    ("a**b.png", "a/x/b.png", False),         # no '/': the name only
    ("[.]png", ".png", True),
    ("a+b(1).png", "a+b(1).png", True),       # regex characters are literal
    ("[", "[", True),
])
def test_wildcards_match_as_the_help_says(pattern, path, matches):
    assert path_matches(path, pattern) is matches


def test_double_star_keeps_top_level_files_in_a_subset():
    assert select(PATHS + ["top.png"], Selection(wildcard="**/*.png")) == sorted(
        [p for p in PATHS if p.endswith(".png")] + ["top.png"])


# ---- what an ingest takes from a source listing ----

TASK_ID = "0123456789abcdef0123456789abcdef"
USER_KEYS = ["a.png", "cam0/b.png", "raw/c.png", "notes.txt", "datasets/d.png", "x/.datasets/e.png"]
# Where another dataset (project "other", name "theirs") wrote its outputs, under an output URI of the
# bucket root and one of "out/": its state and file zips (artifacts) and its preview images (metrics).
CLEARML_KEYS = [
    f"other/.datasets/theirs/theirs.{TASK_ID}/artifacts/state/state.json",
    f"other/.datasets/theirs/theirs.{TASK_ID}/artifacts/data/dataset.{TASK_ID}.zip",
    f"other/.datasets/theirs/theirs.{TASK_ID}/metrics/Images/a.png/a_00000000.png",
    f"out/team/sub/.datasets/my set/my set.{TASK_ID}/metrics/Images/b.png/b_00000001.png",
    f".datasets/root-project/root-project.{TASK_ID}/artifacts/state/state.json",
    ".clearml.0b9f2c9e-2b55-4c4e-9d7e-2f3f5a1c9d10.test",
]


def _chosen(keys, prefix="", wildcards=None, recursive=True, out=None):
    return choose_objects(((k, 1) for k in keys), prefix, wildcards, recursive, out)


def test_clearml_outputs_of_any_dataset_are_left_out_and_counted():
    chosen = _chosen(USER_KEYS + CLEARML_KEYS + ["folder/"])
    assert sorted(chosen.kept) == sorted(USER_KEYS)
    assert chosen.left_out == {LEFT_OUT_DATASET_OUTPUTS: 5, LEFT_OUT_WRITE_CHECKS: 1}
    assert chosen.left_out_text().startswith("6 matching objects left out: 5 ClearML dataset outputs")
    pngs = _chosen(USER_KEYS + CLEARML_KEYS, wildcards=["*.png"])
    assert sorted(pngs.kept) == sorted(k for k in USER_KEYS if k.endswith(".png"))
    assert pngs.left_out == {LEFT_OUT_DATASET_OUTPUTS: 2}  # only the previews match *.png


def test_an_output_uri_at_the_bucket_root_leaves_out_only_clearml_outputs():
    out = output_prefix("s3://127.0.0.1:9000/clearml", "127.0.0.1:9000", "clearml")
    assert out == ""
    chosen = _chosen(USER_KEYS + CLEARML_KEYS, wildcards=["*.png"], out=out)
    assert sorted(chosen.kept) == sorted(k for k in USER_KEYS if k.endswith(".png"))


def test_an_output_uri_under_the_bucket_leaves_out_everything_under_it():
    assert output_prefix("s3://h:9000/clearml/out/", "h:9000", "clearml") == "out/"
    assert output_prefix("s3://h:9000/other/out", "h:9000", "clearml") is None
    assert output_prefix("s3://h:9000/clearml-x/out", "h:9000", "clearml") is None
    assert output_prefix(None, "h:9000", "clearml") is None
    chosen = _chosen(USER_KEYS + ["out/stray.png"], wildcards=["*.png"], out="out/")
    assert "out/stray.png" not in chosen.kept and chosen.left_out == {LEFT_OUT_OUTPUT_URI: 1}


def test_source_listing_is_relative_to_the_prefix_and_not_recursive_on_request():
    keys = ["raw/a.png", "raw/sub/b.png", "rawish/c.png", "raw/notes.txt"]
    assert sorted(_chosen(keys, prefix="raw/", wildcards=["**/*.png"]).kept) == ["raw/a.png", "raw/sub/b.png"]
    assert sorted(_chosen(keys, prefix="raw/", wildcards=["*.png"], recursive=False).kept) == ["raw/a.png"]
    assert sorted(_chosen(keys, prefix="raw/", wildcards=["sub/*"]).kept) == ["raw/sub/b.png"]
