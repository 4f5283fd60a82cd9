"""Bad inputs to the dataset verbs, through the real `clearstack` CLI against the real MinIO server and the
ClearML API stand-in (loopback processes, tests/integration/dataset_servers.py): each is refused with one line
naming the problem, creates no dataset (not even a draft) and leaves the datasets already there as
they were.
"""

from __future__ import annotations

import uuid

import pytest

from dataset_servers import BUCKET, KEY, api_call, api_tasks, cli_environment, error_gist, runner

RELIABILITY_AREA = "Bad dataset inputs (real MinIO, ClearML API stand-in)"
pytestmark = [pytest.mark.reliability]

PNGS = [f"cam{i % 2}/img{i:02d}.png" for i in range(10)]


@pytest.fixture(scope="module")
def kept(s3_server, api_server, clearml_conf, tmp_path_factory):
    """A dataset and a subset of it, made before any bad input, and a snapshot of them: the data that
    must stay as it was after every case."""
    port, client = s3_server
    prefix = f"kept-{uuid.uuid4().hex[:8]}/"
    for name in PNGS:
        client.put_object(Bucket=BUCKET, Key=prefix + name, Body=f"PNG {name}".encode())
    source = f"s3://127.0.0.1:{port}/{BUCKET}/{prefix}"
    run = runner(cli_environment(clearml_conf, tmp_path_factory.mktemp("kept-home")))
    rc, parent, err = run("ingest", source, "--project", "kept", "--name", "ds", "--wildcard", "*.png",
                          "--dataset-path", "/imagens")
    assert rc == 0, err
    rc, child, err = run("subset", "--parent-id", parent["dataset_id"], "--name", "four", "--max-count", "4")
    assert rc == 0, err
    kept = {"source": source, "parent": parent["dataset_id"], "child": child["dataset_id"],
            # A task that is no dataset, and a dataset's task left a draft (status created), as the API holds them.
            "plain_task": api_call(api_server, "tasks.create", {"name": "not-a-dataset", "type": "training"})["id"],
            "draft": api_call(api_server, "tasks.create", {"name": "draft-ds", "type": "data_processing",
                                                           "system_tags": ["dataset"]})["id"]}
    kept["snapshot"] = _snapshot(run, api_server, kept)
    assert len(kept["snapshot"]["list"]["datasets"]) == 2 and kept["snapshot"]["shown"]["files"] == 10
    return kept


def _snapshot(run, api_url: str, kept: dict) -> dict:
    """What a user sees (`datasets list`, `datasets show` of the parent) and every task document the API
    holds, drafts included: a new, changed or deleted dataset shows in one of them."""
    seen = {"tasks": api_tasks(api_url)}
    rc, seen["list"], err = run("datasets", "list")
    assert rc == 0, err
    rc, seen["shown"], err = run("datasets", "show", "--id", kept["parent"])
    assert rc == 0, err
    return seen


def _listing_with_an_absent_path(tmp_path) -> str:
    listing = tmp_path / "keep.txt"
    listing.write_text("imagens/cam0/img02.png\nimagens/cam0/not-there.png\n")
    return str(listing)


# case id -> (what the user got wrong, CLI arguments built from the kept data, text the error must hold)
CASES = {
    "malformed-s3-url": ("ingest from s3:/ (one slash)",
                         lambda k, p, t: ["ingest", k["source"].replace("s3://", "s3:/"), "--project", p, "--name", "ds"],
                         "is not an s3 URL"),
    "url-without-port": ("ingest from s3://HOST/BUCKET/ without :PORT",
                         lambda k, p, t: ["ingest", f"s3://127.0.0.1/{BUCKET}/x/", "--project", p, "--name", "ds"],
                         "has no port"),
    "missing-bucket": ("ingest from a bucket that does not exist",
                       lambda k, p, t: ["ingest", k["source"].replace(f"/{BUCKET}/", "/no-such-bucket/"),
                                        "--project", p, "--name", "ds"],
                       "bucket 'no-such-bucket' does not exist"),
    "wildcard-matching-nothing": ("ingest with --wildcard '*.jpg' over PNGs",
                                  lambda k, p, t: ["ingest", k["source"], "--project", p, "--name", "ds",
                                                   "--wildcard", "*.jpg"],
                                  "nothing under"),
    "unknown-parent-id": ("subset of a parent id that does not exist",
                          lambda k, p, t: ["subset", "--parent-id", uuid.uuid4().hex, "--name", p, "--max-count", "1"],
                          "no dataset with id"),
    "parent-is-not-a-dataset": ("subset of a parent id that names a task, not a dataset",
                                lambda k, p, t: ["subset", "--parent-id", k["plain_task"], "--name", p, "--max-count", "1"],
                                "is a ClearML task ('not-a-dataset'), not a dataset"),
    "parent-is-a-draft": ("subset of a parent dataset that was never finalized",
                          lambda k, p, t: ["subset", "--parent-id", k["draft"], "--name", p, "--max-count", "1"],
                          "is a draft that was never finalized"),
    "unknown-parent-name": ("subset of a parent project/name that does not exist",
                            lambda k, p, t: ["subset", "--parent-project", p, "--parent-name", "nope", "--name", p,
                                             "--max-count", "1"],
                            "no finalized dataset {p}/nope"),
    "sample-larger-than-parent": ("subset --sample 50 of a 10-file parent",
                                  lambda k, p, t: ["subset", "--parent-id", k["parent"], "--name", p,
                                                   "--sample", "50", "--seed", "1"],
                                  "sample of 50 files was asked, but only 10"),
    "selection-file-absent-paths": ("subset --from-file naming a path the parent lacks",
                                    lambda k, p, t: ["subset", "--parent-id", k["parent"], "--name", p,
                                                     "--from-file", _listing_with_an_absent_path(t)],
                                    "not in the parent dataset: imagens/cam0/not-there.png"),
    "wrong-s3-credentials": ("ingest with a wrong S3 secret for the endpoint",
                             lambda k, p, t: ["ingest", k["source"].replace("127.0.0.1:", "localhost:"),
                                              "--project", p, "--name", "ds"],
                             "refused the S3 credentials"),
    "no-s3-credentials": ("ingest from an endpoint clearml.conf has no credentials for",
                          lambda k, p, t: ["ingest", k["source"].replace("127.0.0.1:", "127.0.0.2:"),
                                           "--project", p, "--name", "ds"],
                          "no S3 credentials for 127.0.0.2:"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_standin_bad_input_is_refused_and_changes_nothing(case, run, api_server, kept, reliability, tmp_path):
    what, argv, message = CASES[case]
    row = reliability(f"{case}: {what}", "exit 1, one line naming the problem; no dataset created or changed")
    project = f"bad-{uuid.uuid4().hex[:6]}"

    rc, out, err = run(*argv(kept, project, tmp_path))

    assert rc == 1 and out is None, f"rc={rc} out={out} err={err}"
    assert message.format(p=project) in err, err
    assert "Traceback" not in err, err
    row["observed"] = error_gist(err)
    assert _snapshot(run, api_server, kept) == kept["snapshot"], "the bad input changed the datasets"
    row["data intact"] = True


def test_standin_wrong_api_keys_are_refused_and_change_nothing(run, api_server, kept, reliability):
    row = reliability("wrong-api-credentials: ingest with a wrong ClearML API secret",
                      "exit 1, one line saying the API refused the keys; no dataset created or changed")
    rc, out, err = run("ingest", kept["source"], "--project", f"bad-{uuid.uuid4().hex[:6]}", "--name", "ds",
                       conf_env={"CLEARML_API_ACCESS_KEY": KEY, "CLEARML_API_SECRET_KEY": "wrong-secret-0000"})

    assert rc == 1 and out is None, f"rc={rc} out={out} err={err}"
    assert "Traceback" not in err, err
    assert "refused the login" in err and "CLEARML_API_SECRET_KEY" in err, err
    row["observed"] = error_gist(err)
    assert _snapshot(run, api_server, kept) == kept["snapshot"], "the refused login changed the datasets"
    row["data intact"] = True
