"""The dataset verbs end to end: the real `clearstack` CLI (so the real ClearML SDK and boto3) over
HTTP against the real MinIO server (one node with four drives, erasure coded: tests/minio_server.py)
and the ClearML API stand-in, each in its own process on loopback.

The ClearML API is a stand-in, not the real server: test names say `standin` where the result depends on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dataset_servers import BUCKET, CLI_TIMEOUT_S, _files, _ingest, _project

# The servers (s3_server, api_server, ...) and `run` are fixtures of dataset_servers.py, via conftest.py.


def test_standin_ingest_registers_links_and_reingest_makes_no_version(run, images):
    source, _, _ = images
    project = _project()
    first = _ingest(run, source, project)
    assert first["created"] and first["files"] == 10 and first["added"] == 10
    shown = _files(run, first["dataset_id"])
    assert shown["files"] == 10
    assert all(p.startswith("imagens/cam") and p.endswith(".png") for p in shown["first_files"])

    again = _ingest(run, source, project)
    assert again == {**again, "dataset_id": first["dataset_id"], "created": False, "files": 10}


def test_standin_clearml_outputs_in_the_source_bucket_are_never_ingested(run, images, s3_server):
    """Dataset state (and previews) written under the source prefix must not show up as new files."""
    source, _, _ = images
    project = _project()
    first = _ingest(run, source, project, "ds", "--output-uri", source + "clearml-outputs/")
    assert first["files"] == 10
    _, client = s3_server
    prefix = source.split(f"/{BUCKET}/", 1)[1]
    written = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "clearml-outputs/").get("Contents", [])]
    assert written, "the dataset state should have been written under the source prefix"
    rc, again, err = run("ingest", source, "--project", project, "--name", "ds", "--dataset-path", "/imagens",
                         "--output-uri", source + "clearml-outputs/")  # no wildcard: every object would match
    assert rc == 0, err
    assert again["files"] == 11 and again["added"] == 1, again  # notes.txt joins; the state files do not


def test_standin_incremental_ingest_makes_a_child_with_just_the_difference(run, images):
    source, put, delete = images
    project = _project()
    first = _ingest(run, source, project)
    put("cam0/new1.png")
    put("cam1/new2.png")
    delete("cam0/img00.png")
    second = _ingest(run, source, project)
    assert second["created"] and second["dataset_id"] != first["dataset_id"]
    assert (second["files"], second["added"], second["removed"]) == (11, 2, 1)
    shown = _files(run, second["dataset_id"])
    assert shown["parents"] == [first["dataset_id"]]


def test_standin_subset_by_each_selection_kind(run, images, tmp_path):
    source, _, _ = images
    project = _project()
    parent = _ingest(run, source, project)["dataset_id"]
    listing = tmp_path / "keep.txt"
    listing.write_text("imagens/cam0/img02.png\n/imagens/cam1/img03.png\n")
    cases = {
        "by-wildcard": (["--wildcard", "img0[12].png"], 2),
        "by-prefix": (["--prefix", "imagens/cam1/"], 5),
        "by-count": (["--max-count", "3"], 3),
        "by-sample": (["--sample", "4", "--seed", "7"], 4),
        "by-fraction": (["--fraction", "0.5", "--seed", "1"], 5),
        "by-file": (["--from-file", str(listing)], 2),
    }
    for name, (selection, count) in cases.items():
        rc, out, err = run("subset", "--parent-id", parent, "--name", name, *selection)
        assert rc == 0, f"{name}: {err}"
        assert out["files"] == count, name
        shown = _files(run, out["dataset_id"])
        assert shown["parents"] == [parent] and shown["files"] == count, name


def test_standin_same_subset_twice_is_one_dataset(run, images):
    source, _, _ = images
    project = _project()
    _ingest(run, source, project)
    args = ("subset", "--parent-project", project, "--parent-name", "ds", "--name", "two", "--max-count", "2")
    rc1, first, err1 = run(*args)
    rc2, second, err2 = run(*args)
    assert rc1 == rc2 == 0, err1 + err2
    assert first["created"] and not second["created"]
    assert second["dataset_id"] == first["dataset_id"]


def _ingested_pair(run, source, wildcard):
    """A fresh project's dataset of the source and its subset "pair" of the files matching wildcard."""
    project = _project()
    _ingest(run, source, project)
    rc, sub, err = run("subset", "--parent-project", project, "--parent-name", "ds", "--name", "pair",
                       "--wildcard", wildcard)
    assert rc == 0, err
    return sub


def test_standin_get_fetches_the_subset_and_fails_on_a_missing_object(run, images, tmp_path):
    source, _, delete = images
    sub = _ingested_pair(run, source, "img0[45].png")

    rc, got, err = run("datasets", "get", "--id", sub["dataset_id"], "--to", str(tmp_path / "copy"))
    assert rc == 0, err
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == ["imagens/cam0/img04.png", "imagens/cam1/img05.png"]

    rc, cached, err = run("datasets", "get", "--id", sub["dataset_id"])  # into the SDK's cache
    assert rc == 0 and cached["files"] == 2, err

    delete("cam1/img05.png")
    rc, _, err = run("datasets", "get", "--id", sub["dataset_id"], "--to", str(tmp_path / "copy2"))
    assert rc == 1
    assert "1 of 2 file(s) could not be fetched: imagens/cam1/img05.png" in err
    assert not (tmp_path / "copy2").exists(), "a partial folder was left behind"


def test_standin_get_of_a_subset_into_the_cache_names_a_missing_object(run, images):
    """Into the SDK's cache, a subset's copy is merged from its parent's links: one object gone there made
    the SDK raise "Dataset merging failed" and the CLI print a traceback (issue 16, defect 10)."""
    source, _, delete = images
    sub = _ingested_pair(run, source, "img0[67].png")
    delete("cam1/img07.png")
    rc, _, err = run("datasets", "get", "--id", sub["dataset_id"])
    assert "Traceback" not in err, err
    assert rc == 1, err
    assert "1 of 2 file(s) could not be fetched: imagens/cam1/img07.png" in err, err


# Bad inputs (bad URLs, buckets, wildcards, credentials, parents, selections) are in
# test_reliability_dataset_inputs.py.


def test_standin_unreachable_servers_are_clear_errors_within_seconds(run, images, dead_port):
    source, _, _ = images
    project = _project()
    rc, _, err = run("ingest", source.replace(source.split("/")[2], f"127.0.0.1:{dead_port}"), "--project", project,
                     "--name", "ds", "--wildcard", "*.png")
    assert rc == 1 and f"cannot reach S3 at 127.0.0.1:{dead_port}" in err, err
    rc, _, err = run("ingest", source, "--project", project, "--name", "ds", "--wildcard", "*.png",
                     conf_env={"CLEARML_API_HOST": f"http://127.0.0.1:{dead_port}"})
    assert rc == 1 and f"the ClearML API at http://127.0.0.1:{dead_port} does not answer" in err, err
    rc, out, err = run("datasets", "list", "--project", project)
    assert rc == 0 and out["datasets"] == [], err


def test_standin_default_pipeline_runs_the_runbook_example_and_reruns_unchanged(run, s3_server):
    port, client = s3_server
    bucket_url = f"s3://127.0.0.1:{port}/clearml/"
    # The runbook's bucket `clearml` is shared with the other tests: use a project of our own via a spec copy.
    rc, out, err = run("demo-data", bucket_url + "demo/", "--count", "6")
    assert rc == 0 and len(out["keys"]) == 6, err
    rc, first, err = run("run", "--s3-endpoint", f"127.0.0.1:{port}")
    assert rc == 0, err
    ingest, sub = first["results"]
    assert (ingest["project"], ingest["name"], sub["name"]) == ("meu_projeto", "meu_dataset", "meu_dataset_subconjunto")
    assert ingest["files"] == len([k for k in _keys(client) if k.endswith(".png")])
    assert sub["files"] == 2 and sub["parent_id"] == ingest["dataset_id"]

    rc, second, err = run("run", "--s3-endpoint", f"127.0.0.1:{port}")
    assert rc == 0, err
    assert [r["dataset_id"] for r in second["results"]] == [ingest["dataset_id"], sub["dataset_id"]]
    assert not any(r["created"] for r in second["results"])


def _keys(client) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_standin_runbook_subset_recipe_next_to_clearstack_subset(run, s3_server, clearstack_conf, images, tmp_path):
    """The runbook's snippets, host names changed, with the clearml.conf clearstack writes: its
    'subset' inherits every parent file and nests the chosen ones one folder too deep; clearstack's
    holds exactly 2."""
    port, client = s3_server
    project = _project()
    home = tmp_path / "runbook-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "AWS_"))}
    env.update(HOME=str(home), CLEARML_CONFIG_FILE=str(clearstack_conf), S3_HOST=f"127.0.0.1:{port}")
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("runbook_snippets.py")), project, "meu_dataset"],
                          env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    runbook = json.loads(lines[-1][len("RESULT "):])

    rc, ours, err = run("subset", "--parent-project", project, "--parent-name", "meu_dataset",
                        "--name", "meu_dataset_subconjunto_clearstack", "--max-count", "2",
                        conf_env={"CLEARML_CONFIG_FILE": str(clearstack_conf)})
    assert rc == 0, err
    ours_files = _files(run, ours["dataset_id"])["first_files"]

    pngs = runbook["parent_files"]
    assert pngs >= 10, "the images fixture put 10 PNGs in the bucket"
    assert len(runbook["subset_files"]) == pngs + 2, "the recipe's child inherits all parent files, plus 2"
    nested = [p for p in runbook["subset_files"] if p.count(".png") == 2]
    assert len(nested) == 2 and all(p.split("/")[-1] == p.split("/")[-2] for p in nested), nested
    assert len(ours_files) == 2 and all(p.count(".png") == 1 for p in ours_files)
    print(f"\nrunbook subset: {len(runbook['subset_files'])} files, e.g. {nested[0]}"
          f"\nclearstack subset: {len(ours_files)} files: {ours_files}")


# Another dataset, of files uploaded by the SDK (not links), with its outputs in the bucket given: its
# state, its file zip and its preview images, as a user's own SDK script makes them.
_OTHER_DATASET = """
import sys
from pathlib import Path
from clearml import Dataset
project, name, folder, output_uri = sys.argv[1:5]
dataset = Dataset.create(dataset_project=project, dataset_name=name, output_uri=output_uri)
dataset.add_files(folder)
dataset.upload(show_progress=False)
dataset.finalize(auto_upload=True)
print("DATASET", dataset.id)
"""


@pytest.fixture
def own_bucket(s3_server):
    """A bucket of this test's own (so a bucket-root source holds only what the test put there) with five
    user PNGs, two of them at the top level; yields (bucket URL without a slash, client, keys)."""
    from clearstack.datasets.demo import png

    port, client = s3_server
    bucket = f"edges-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    keys = ["top1.png", "top2.png", "raw/a.png", "raw/b.png", "raw/deep/c.png"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=png(4, 4, (10, 20, 30)))
    return f"s3://127.0.0.1:{port}/{bucket}", client, keys


def _bucket_keys(client, url: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=url.rsplit("/", 1)[-1])
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_standin_an_output_uri_at_the_bucket_root_leaves_out_only_clearml_outputs(run, own_bucket):
    """Issue 15, item 1: with the runbook's output_uri, the bucket root (no trailing slash), every key
    "started with" the excluded prefix "" and ingest found nothing."""
    root, client, user_pngs = own_bucket
    project = _project()
    first = _ingest(run, root + "/", project, "mine", "--output-uri", root)
    assert first["files"] == len(user_pngs) and first["created"], first
    state = [k for k in _bucket_keys(client, root) if k.startswith(f"{project}/.datasets/mine/")]
    assert state, "the dataset state should have been written at the bucket root"
    rc, again, err = run("ingest", root + "/", "--project", project, "--name", "mine", "--dataset-path", "/imagens",
                         "--output-uri", root)  # no wildcard: the state files would match
    assert rc == 0, err
    assert again["files"] == len(user_pngs) and not again["created"], again
    assert again["left_out"] == {"ClearML dataset outputs (state, file zips, previews)": len(state)}, again


def test_standin_outputs_another_dataset_wrote_into_the_source_bucket_are_left_out(run, cli_env, own_bucket, tmp_path):
    """Issue 15, items 2 and 6: a dataset of uploaded files (not this ingest's, another output URI) wrote
    its state, zip and preview PNGs into the source bucket; an ingest of '*.png' must count only the
    user's PNGs and say how many it left out; '**/*.png' keeps the top-level PNGs too."""
    from clearstack.datasets.demo import png

    root, client, user_pngs = own_bucket
    folder = tmp_path / "local"
    folder.mkdir()
    for i in range(3):
        (folder / f"local{i}.png").write_bytes(png(4, 4, (i, 0, 0)))
    script = tmp_path / "other_dataset.py"
    script.write_text(_OTHER_DATASET)
    proc = subprocess.run([sys.executable, str(script), _project(), "theirs", str(folder), root + "/outputs"],
                          env=cli_env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    outputs = [k for k in _bucket_keys(client, root) if "/.datasets/" in k]
    previews = [k for k in outputs if "/metrics/" in k and k.endswith(".png")]
    assert previews and any("/artifacts/" in k for k in outputs), outputs  # its previews, its state and zip

    project = _project()
    rc, pngs, err = run("ingest", root + "/", "--project", project, "--name", "pngs", "--wildcard", "*.png")
    assert rc == 0, err
    assert pngs["files"] == len(user_pngs), pngs
    assert pngs["left_out"] == {"ClearML dataset outputs (state, file zips, previews)": len(previews)}, pngs

    rc, deep, err = run("ingest", root + "/", "--project", project, "--name", "deep", "--wildcard", "**/*.png")
    assert rc == 0, err
    assert deep["files"] == len(user_pngs), deep  # the two top-level PNGs included
