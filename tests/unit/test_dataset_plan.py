from clearstack.datasets.plan import Entry, dataset_path, plan_ingest


def test_dataset_paths_are_relative_to_the_prefix_under_the_root():
    assert dataset_path("raw/a.png", "raw/", "/imagens") == "imagens/a.png"
    assert dataset_path("raw/sub/b.png", "raw/", "imagens/") == "imagens/sub/b.png"
    assert dataset_path("a.png", "", "/") == "a.png"
    assert dataset_path(".hidden/x.png", "", "/d") == "d/.hidden/x.png"


def _e(name, size=10):
    return Entry(f"s3://h:9000/b/{name}", size)


def test_unchanged_listing_plans_nothing():
    current = {"d/a.png": _e("a.png"), "d/b.png": _e("b.png")}
    assert plan_ingest(current, dict(current)).empty


def test_new_deleted_and_resized_objects():
    current = {"d/a.png": _e("a.png"), "d/b.png": _e("b.png"), "d/c.png": _e("c.png")}
    listed = {"d/a.png": _e("a.png"), "d/c.png": _e("c.png", size=99), "d/new.png": _e("new.png")}
    plan = plan_ingest(current, listed)
    assert sorted(plan.add) == ["d/c.png", "d/new.png"]
    assert plan.remove == ["d/b.png", "d/c.png"]
