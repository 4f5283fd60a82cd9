"""Many `clearstack` runs at once against the real MinIO server and the ClearML API stand-in (loopback
processes, tests/integration/dataset_servers.py): concurrent gets of one subset each get the whole, right
bytes, and concurrent ingests into different datasets do not mix their files up.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from dataset_servers import BUCKET, api_tasks, error_gist

RELIABILITY_AREA = "Load (real MinIO, ClearML API stand-in)"
pytestmark = [pytest.mark.reliability]

GETS, INGESTS = 20, 5
# 20 CLI processes share the test machine's CPUs: bound each run, but with room for the contention.
LOADED_TIMEOUT_S = 400


def _put_pngs(s3_server, count: int) -> tuple[str, dict[str, bytes]]:
    """count PNGs with distinct bodies under a fresh prefix; returns (source URL, object name -> body)."""
    port, client = s3_server
    prefix = f"load-{uuid.uuid4().hex[:8]}/"
    bodies = {f"cam{i % 2}/img{i:02d}.png": f"PNG {prefix}{i} {uuid.uuid4()}".encode() for i in range(count)}
    for name, body in bodies.items():
        client.put_object(Bucket=BUCKET, Key=prefix + name, Body=body)
    return f"s3://127.0.0.1:{port}/{BUCKET}/{prefix}", bodies


def test_standin_concurrent_gets_of_one_subset_each_get_every_byte(run, s3_server, api_server, reliability, tmp_path):
    row = reliability(f"{GETS} concurrent `datasets get` of one subset, each into its own folder",
                      "every copy complete, bytes as in the bucket; datasets unchanged")
    source, bodies = _put_pngs(s3_server, 10)
    rc, parent, err = run("ingest", source, "--project", f"load-{uuid.uuid4().hex[:6]}", "--name", "ds",
                          "--wildcard", "*.png", "--dataset-path", "/imagens")
    assert rc == 0, err
    rc, sub, err = run("subset", "--parent-id", parent["dataset_id"], "--name", "cam0", "--prefix", "imagens/cam0/")
    assert rc == 0 and sub["files"] == 5, err
    expected = {f"imagens/{name}": body for name, body in bodies.items() if name.startswith("cam0/")}
    tasks_before = api_tasks(api_server)

    def get(i: int):
        return run("datasets", "get", "--id", sub["dataset_id"], "--to", str(tmp_path / f"copy{i:02d}"),
                   timeout=LOADED_TIMEOUT_S)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=GETS) as pool:
        results = list(pool.map(get, range(GETS)))
    elapsed = time.monotonic() - started

    failed = [(i, error_gist(err)) for i, (rc, _, err) in enumerate(results) if rc != 0]
    assert not failed, failed
    for i, (_, out, _) in enumerate(results):
        folder = tmp_path / f"copy{i:02d}"
        copied = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert out["files"] == len(expected) and copied == expected, f"copy {i}: {sorted(copied)}"
    row["observed"] = f"{GETS}/{GETS} copies complete and byte-identical ({len(expected)} files each) in {elapsed:.0f} s"
    assert api_tasks(api_server) == tasks_before, "a get changed a dataset"
    row["data intact"] = True


def test_standin_concurrent_ingests_into_different_datasets_keep_their_own_files(run, s3_server, api_server,
                                                                                  reliability):
    row = reliability(f"{INGESTS} concurrent `ingest` into {INGESTS} different datasets",
                      "each dataset holds exactly its own source's files; one version each")
    project = f"load-{uuid.uuid4().hex[:6]}"
    # Different sizes, so a dataset that got another's files would show it in its count.
    sources = {f"ds{n}": _put_pngs(s3_server, n) for n in range(3, 3 + INGESTS)}

    def ingest(name: str):
        source, _ = sources[name]
        return run("ingest", source, "--project", project, "--name", name, "--wildcard", "*.png",
                   "--dataset-path", "/imagens", timeout=LOADED_TIMEOUT_S)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=INGESTS) as pool:
        results = dict(zip(sources, pool.map(ingest, sources)))
    elapsed = time.monotonic() - started

    failed = {name: error_gist(err) for name, (rc, _, err) in results.items() if rc != 0}
    assert not failed, failed
    for name, (_, out, _) in results.items():
        assert out["created"] and out["files"] == len(sources[name][1]), (name, out)
        rc, shown, err = run("datasets", "show", "--id", out["dataset_id"])
        assert rc == 0, err
        want = sorted(f"imagens/{n}" for n in sources[name][1])
        assert (shown["name"], shown["files"], shown["first_files"]) == (name, len(want), want), shown
    rc, listed, err = run("datasets", "list", "--project", project)
    assert rc == 0, err
    assert sorted(d["name"] for d in listed["datasets"]) == sorted(sources), listed
    row["observed"] = (f"{INGESTS}/{INGESTS} ingests made 1 version each with "
                       f"{'/'.join(str(results[n][1]['files']) for n in sources)} files in {elapsed:.0f} s")
    row["data intact"] = True
