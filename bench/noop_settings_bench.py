#!/usr/bin/env python3
"""What each speed setting is worth on a no-op `clearstack up`: on one local lab, the wall time of a
no-op `up` as is (baseline) and with one setting switched off per variant, in one run.

    .venv/bin/python bench/noop_settings_bench.py [--hosts 1|5] [--repeats 3] [--variants NAME ...]

A fresh lab (`clearstack lab up`), the stand-in images through the offline bundle (as lab_bench.py),
a first `up` and one untimed no-op `up`; then REPEATS rounds, each running every variant once, in an
order rotated from round to round, so a noisy spell of the (shared) machine falls on different
variants. Each variant's time is the median of its rounds; ratio = median / baseline median. The
lab is removed afterwards. Prints JSON, then a table.

Ansible settings are switched with the ANSIBLE_* environment variables Ansible reads over ansible.cfg
(the driver hands its environment on to ansible-runner). The two role-level guards have no switch:
their variants make the host look as if the guard had not held (apt lists aged past the validity,
one image tag of the bundle removed) just before the run, from outside it, with `docker exec`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from testhosts import standin_bundle, standin_lab  # noqa: E402

CLEARSTACK = str(Path(sys.executable).parent / "clearstack")
RUN_TIMEOUT_S = 1800
# ansible.cfg's ssh_args without ControlMaster/ControlPersist: every task opens its own SSH connection.
SSH_ARGS_NO_PERSIST = "-o ControlMaster=no -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
# Apt's own stamp of the last successful update and the lists: the apt module's cache_valid_time reads these.
APT_STAMPS = "/var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists"
# One tag of the stand-in bundle: untagged before the run, so the docker role finds it missing and loads the
# bundle (1 changed); the image and its containers stay, and the load puts back the same image under that tag.
BUNDLE_PROBE_TAG = "clearstack-test/redis-standin:local"


def _lab_hosts(name: str, hosts: int) -> list[str]:
    return [f"{name}-clearml"] + ([f"{name}-minio{i}" for i in range(1, 5)] if hosts == 5 else [])


def _age_apt_lists(name: str, hosts: int) -> Callable[[], None]:
    """Age the apt lists past the validity; return what puts their time back afterwards, so that later runs
    are not slowed down: an update that fetches nothing new leaves the lists' own mtime as it was."""
    stamps = {}
    for host in _lab_hosts(name, hosts):
        stamps[host] = subprocess.run(["docker", "exec", host, "stat", "-c", "%Y", "/var/lib/apt/lists"], check=True,
                                      capture_output=True, text=True, timeout=60).stdout.strip()
        subprocess.run(["docker", "exec", host, "sh", "-c", f"touch -c -d '2 hours ago' {APT_STAMPS}"],
                       check=True, capture_output=True, timeout=60)

    def restore() -> None:
        for host, stamp in stamps.items():
            subprocess.run(["docker", "exec", host, "sh", "-c", f"touch -c -d @{stamp} {APT_STAMPS}"],
                           check=True, capture_output=True, timeout=60)
    return restore


def _drop_bundle_tag(name: str, hosts: int) -> None:
    # --force: a container was created from that name, so Docker only untags the image (it keeps running).
    for host in _lab_hosts(name, hosts):
        subprocess.run(["docker", "exec", host, "docker", "image", "rm", "--force", BUNDLE_PROBE_TAG],
                       capture_output=True, timeout=60)  # a host without that image (5 hosts: MinIO nodes) is fine


# name -> (what is switched off, environment for the run, what to do to the lab hosts just before it,
# returning what undoes it after the run, if anything)
VARIANTS = {
    "baseline": ("nothing: ansible.cfg and the roles as they are", {}, None),
    "no_pipelining": ("pipelining (ANSIBLE_PIPELINING=False)", {"ANSIBLE_PIPELINING": "False"}, None),
    "no_controlpersist": ("SSH connection reuse (ANSIBLE_SSH_ARGS without ControlMaster/ControlPersist)",
                          {"ANSIBLE_SSH_ARGS": SSH_ARGS_NO_PERSIST}, None),
    "facts_every_play": ("facts once per host (ANSIBLE_GATHERING=implicit: gathered in each of the 7 plays)",
                         {"ANSIBLE_GATHERING": "implicit"}, None),
    "apt_lists_stale": ("apt cache validity (apt lists aged 2 h before the run, restored after it)", {}, _age_apt_lists),
    "bundle_reloaded": ("load only missing images (one bundle tag removed before the run: the bundle is loaded again)",
                        {}, _drop_bundle_tag),
}


def _up(inventory: Path, env: dict[str, str]) -> tuple[float, dict]:
    start = time.monotonic()
    proc = subprocess.run([CLEARSTACK, "up", "-i", str(inventory), "--json"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL, env={**os.environ, **env})
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"clearstack up failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def _changed(report: dict) -> int:
    return sum(h["changed"] for h in report["hosts"].values())


def bench(hosts: int, bundle: str, variants: list[str], repeats: int) -> dict:
    name = f"bench-settings-{hosts}-{uuid.uuid4().hex[:4]}"
    samples: dict[str, list[float]] = {v: [] for v in variants}
    changed: dict[str, list[int]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="clearstack-bench-") as tmp:
        directory = Path(tmp)
        with standin_lab(name, hosts, directory, bundle):
            first, _ = _up(directory, {})
            warm, warm_report = _up(directory, {})
            if _changed(warm_report):
                raise SystemExit(f"the no-op up after the first changed {_changed(warm_report)} task(s); nothing to time")
            for round_ in range(repeats):
                shift = round_ % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    _, env, prepare = VARIANTS[variant]
                    restore = prepare(name, hosts) if prepare else None
                    elapsed, report = _up(directory, env)
                    if restore:
                        restore()
                    samples[variant].append(round(elapsed, 1))
                    changed[variant].append(_changed(report))
                    print(f"round {round_ + 1}/{repeats} {variant}: {elapsed:.1f} s, {_changed(report)} changed",
                          file=sys.stderr, flush=True)
    medians = {v: round(statistics.median(s), 1) for v, s in samples.items()}
    base = medians.get("baseline")
    return {"hosts": hosts, "repeats": repeats, "first_up_s": round(first, 1), "untimed_noop_up_s": round(warm, 1),
            "variants": [{"variant": v, "switched_off": VARIANTS[v][0], "median_s": medians[v],
                          "ratio_to_baseline": round(medians[v] / base, 2) if base else None,
                          "samples_s": samples[v], "changed": changed[v]} for v in variants]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1, choices=[1, 5])
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each variant runs once per round")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="baseline is always included")
    args = parser.parse_args()
    variants = ["baseline"] + [v for v in args.variants if v != "baseline"]
    bundle = standin_bundle()
    result = bench(args.hosts, bundle, variants, max(1, args.repeats))
    print(json.dumps(result, indent=2))
    print(f"\n{result['hosts']} host(s), median of {result['repeats']} no-op `up` per variant")
    print(f"{'variant':<18}  {'median':>7}  {'ratio':>5}  {'changed':>7}  samples")
    for r in result["variants"]:
        print(f"{r['variant']:<18}  {r['median_s']:>6}s  {r['ratio_to_baseline']:>5}  {max(r['changed']):>7}  "
              f"{', '.join(f'{s}' for s in r['samples_s'])}")


if __name__ == "__main__":
    main()
