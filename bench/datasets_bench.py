#!/usr/bin/env python3
"""Dataset pipeline benchmark: clearstack next to the runbook's snippets, in one run, on loopback.

    .venv/bin/python bench/datasets_bench.py [--objects 10000] [--subset-pool 2000] [--subset-size 100]

(a) ingest of N small objects: wall time, ClearML API calls, S3 requests;
(b) subset of 100 from 2,000 objects of 256 KiB: S3 bytes read and written, time;
(c) local copy of that subset: objects fetched.
Servers: moto (S3) behind a counting proxy, and the ClearML API stand-in (tests/standins), so the
absolute times are this machine's and the stand-ins'; the ratios are the point. Prints JSON, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from s3_counting_proxy import CountingProxy  # noqa: E402
from standins.clearml_api import start as start_api  # noqa: E402

from clearstack.datasets.demo import png  # noqa: E402

KEY, SECRET = "BENCHKEY0000000001", "bench-secret-000000000001"
CLEARSTACK = str(Path(sys.executable).parent / "clearstack")


class Bench:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        starter = threading.Thread(target=self.moto.start, daemon=True)
        starter.start()
        starter.join(30)
        self.moto_port = self.moto.get_host_and_port()[1]
        self.proxy = CountingProxy(self.moto_port)
        self.api, self.api_url = start_api(port=0, credentials={"bench": {"user_key": KEY, "user_secret": SECRET}})
        self.direct = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.moto_port}", region_name="us-east-1",
                                   aws_access_key_id="bench", aws_secret_access_key="bench-secret")
        self.conf = workdir / "clearml.conf"
        self.conf.write_text(textwrap.dedent(f"""\
            api {{ api_server: "{self.api_url}", web_server: "{self.api_url}",
                  files_server: "s3://127.0.0.1:{self.proxy.port}/outputs/clearml",
                  credentials {{ access_key: "{KEY}", secret_key: "{SECRET}" }} }}
            sdk {{ aws {{ s3 {{ credentials: [ {{ host: "127.0.0.1:{self.proxy.port}", key: "bench",
                  secret: "bench-secret", secure: false, multipart: true }} ] }} }} }}
            """))
        self.direct.create_bucket(Bucket="outputs")

    def source(self, bucket: str) -> str:
        return f"s3://127.0.0.1:{self.proxy.port}/{bucket}/raw/"

    def populate(self, bucket: str, count: int, size: int | None) -> None:
        """Objects written straight to moto, not through the counting proxy."""
        self.direct.create_bucket(Bucket=bucket)
        small = png(8, 8, (200, 100, 50))
        big = os.urandom(size) if size else None

        def put(i: int) -> None:
            self.direct.put_object(Bucket=bucket, Key=f"raw/d{i % 20:02d}/img{i:05d}.png", Body=big or small)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(count)))

    def measure(self, label: str, argv: list[str], source_bucket: str, may_fail: bool = False) -> dict:
        """Run a command with a fresh HOME (empty SDK cache); return time, API calls, S3 traffic, result.
        With may_fail, a failure is recorded (its last error line) instead of ending the benchmark."""
        home = Path(tempfile.mkdtemp(dir=self.workdir, prefix="home-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "AWS_"))}
        env.update(HOME=str(home), CLEARML_CONFIG_FILE=str(self.conf))
        api_before, s3_before = sum(self.api.store.calls.values()), self.proxy.snapshot()
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
        elapsed = time.monotonic() - started
        s3_after = self.proxy.snapshot()
        if proc.returncode != 0:
            if not may_fail:
                raise SystemExit(f"{label} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            result = {"failed": (proc.stderr.strip().splitlines() or ["?"])[-1][:200], "files": None}
        elif "RESULT " in proc.stdout:
            result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
        else:
            result = json.loads(proc.stdout)
        def delta(kind: str, bucket: str | None = None) -> int:
            if bucket is None:
                return sum(s3_after[kind].values()) - sum(s3_before[kind].values())
            return s3_after[kind].get(bucket, 0) - s3_before[kind].get(bucket, 0)
        return {"seconds": round(elapsed, 2), "api_calls": sum(self.api.store.calls.values()) - api_before,
                "s3_requests": delta("requests"),
                # Object traffic on the source bucket, apart from ClearML's own state and outputs.
                "object_gets": delta("gets", source_bucket),
                "object_bytes_read": delta("bytes_read", source_bucket),
                "object_bytes_written": delta("bytes_written", source_bucket),
                "clearml_output_bytes_written": delta("bytes_written", "outputs"),
                "result": result}

    def stop(self) -> None:
        self.api.stop()
        self.proxy.stop()
        self.moto.stop()


def runbook(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "bench/runbook_steps.py"), *args]


def ratio(a: float, b: float) -> str:
    if b:
        return f"{a / b:.1f}"
    return "1.0" if not a else "clearstack: none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="objects for the ingest benchmark")
    parser.add_argument("--subset-pool", type=int, default=2_000, help="objects the subset is chosen from")
    parser.add_argument("--subset-size", type=int, default=100, help="files in the subset")
    parser.add_argument("--object-kib", type=int, default=256, help="size of the subset pool's objects")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clearstack-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            bench.populate("ingest", args.objects, None)
            bench.populate("pool", args.subset_pool, args.object_kib * 1024)
            a_ours = bench.measure("clearstack ingest", [CLEARSTACK, "ingest", bench.source("ingest"), "--project", "a",
                                                          "--name", "ds", "--wildcard", "*.png", "--dataset-path",
                                                          "/imagens", "--json"], "ingest")
            a_runbook = bench.measure("runbook create", runbook("create", "a-runbook", "ds", bench.source("ingest")),
                                      "ingest")

            bench.measure("setup: ingest pool", [CLEARSTACK, "ingest", bench.source("pool"), "--project", "b",
                                                 "--name", "pool", "--wildcard", "*.png", "--json"], "pool")
            b_ours = bench.measure("clearstack subset", [CLEARSTACK, "subset", "--parent-project", "b", "--parent-name",
                                                         "pool", "--name", "sub", "--max-count", str(args.subset_size),
                                                         "--json"], "pool")
            b_runbook = bench.measure("runbook subset", runbook("subset", "b", "pool", str(args.subset_size)), "pool")

            c_ours = bench.measure("clearstack get", [CLEARSTACK, "datasets", "get", "--id", b_ours["result"]["dataset_id"],
                                                      "--to", str(Path(tmp) / "copy"), "--json"], "pool")
            # The recipe nests each chosen file under a folder named like a parent file: the SDK may refuse
            # to merge that copy. Recorded, not fatal.
            c_runbook = bench.measure("runbook get", runbook("get", b_runbook["result"]["id"]), "pool",
                                      may_fail=True)
        finally:
            bench.stop()

    report = {
        "parameters": vars(args),
        "a_ingest": {"clearstack": a_ours, "runbook": a_runbook},
        "b_subset": {"clearstack": b_ours, "runbook": b_runbook},
        "c_local_copy": {"clearstack": c_ours, "runbook": c_runbook},
    }
    print(json.dumps(report, indent=2))
    rows = [
        ("a ingest", "seconds", a_ours, a_runbook), ("a ingest", "api_calls", a_ours, a_runbook),
        ("a ingest", "s3_requests", a_ours, a_runbook),
        ("b subset", "seconds", b_ours, b_runbook), ("b subset", "object_bytes_read", b_ours, b_runbook),
        ("b subset", "object_bytes_written", b_ours, b_runbook),
        ("b subset", "clearml_output_bytes_written", b_ours, b_runbook), ("b subset", "api_calls", b_ours, b_runbook),
        ("c local copy", "object_gets", c_ours, c_runbook), ("c local copy", "seconds", c_ours, c_runbook),
    ]
    print("\n| case | measure | clearstack | runbook | runbook / clearstack |\n|---|---|---|---|---|")
    for case, measure, ours, theirs in rows:
        print(f"| {case} | {measure} | {ours[measure]} | {theirs[measure]} | {ratio(theirs[measure], ours[measure])} |")
    print(f"\nfiles in the result: a {a_ours['result']['files']} vs {a_runbook['result']['files']}; "
          f"b {b_ours['result']['files']} vs {b_runbook['result']['files']}; "
          f"c {c_ours['result']['files']} vs {c_runbook['result'].get('files')}"
          + (f" (runbook get failed: {c_runbook['result']['failed']})" if "failed" in c_runbook["result"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
