#!/usr/bin/env python3
"""Provisioning benchmark on a local lab: wall time of a first `clearstack up`, a no-op `up` and a
`check`, with 1 host (all-in-one) and with 5 hosts (1 ClearML + 4 MinIO), in one run.

    .venv/bin/python bench/lab_bench.py [--hosts 1 5]

Each size gets a fresh lab (`clearstack lab up`), the stand-in images through the offline bundle
(tests/images/build-standin-image.sh, as the tests use them), and is removed afterwards. The times
are this machine's (Docker-in-Docker on its own CPUs); the ratios no-op/first and check/no-op are
the point. Prints JSON, then a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from testhosts import standin_bundle, standin_lab  # noqa: E402

CLEARSTACK = str(Path(sys.executable).parent / "clearstack")
RUN_TIMEOUT_S = 1800


def _timed(*args: str) -> tuple[float, dict]:
    start = time.monotonic()
    proc = subprocess.run([CLEARSTACK, *args, "--json"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if proc.returncode not in (0, 2):
        raise SystemExit(f"clearstack {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def _changed(report: dict) -> int:
    return sum(h["changed"] for h in report["hosts"].values())


def bench(hosts: int, bundle: str) -> dict:
    name = f"bench-{hosts}-{uuid.uuid4().hex[:4]}"
    with tempfile.TemporaryDirectory(prefix="clearstack-bench-") as tmp:
        directory = Path(tmp)
        with standin_lab(name, hosts, directory, bundle):
            first, first_report = _timed("up", "-i", str(directory))
            noop, noop_report = _timed("up", "-i", str(directory))
            check, check_report = _timed("check", "-i", str(directory))
    return {"hosts": hosts, "first_up_s": round(first, 1), "noop_up_s": round(noop, 1), "check_s": round(check, 1),
            "noop_over_first": round(noop / first, 2), "check_over_noop": round(check / noop, 2),
            "changed": {"first_up": _changed(first_report), "noop_up": _changed(noop_report),
                        "check": _changed(check_report)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 5], choices=[1, 5])
    args = parser.parse_args()
    bundle = standin_bundle()
    results = [bench(n, bundle) for n in args.hosts]
    print(json.dumps(results, indent=2))
    print(f"\n{'hosts':>5}  {'first up':>9}  {'no-op up':>9}  {'check':>7}  {'no-op/first':>11}  {'check/no-op':>11}")
    for r in results:
        print(f"{r['hosts']:>5}  {r['first_up_s']:>8}s  {r['noop_up_s']:>8}s  {r['check_s']:>6}s  "
              f"{r['noop_over_first']:>11}  {r['check_over_noop']:>11}")


if __name__ == "__main__":
    main()
