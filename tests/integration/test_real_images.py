"""The service roles' Molecule scenarios with the REAL pinned images (role defaults) in place of the
stand-ins, on a machine that can pull them. Where no registry answers, every test here skips and
says so: the stand-in runs (test_molecule_*.py) are what CI proves on such machines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from molecule_runner import molecule_test

pytestmark = [pytest.mark.real_images, pytest.mark.molecule]

ROOT = Path(__file__).resolve().parents[2]
PULL_TIMEOUT_S = 300

# Scenario -> {environment variable the scenario reads: role default that pins the image}.
SCENARIOS = {
    "clearml_server": {"CLEARSTACK_TEST_CLEARML_IMAGE": ("clearml_server", "clearml_server_image"),
                       "CLEARSTACK_TEST_ES_IMAGE": ("clearml_server", "clearml_server_elasticsearch_image"),
                       "CLEARSTACK_TEST_MONGO_IMAGE": ("clearml_server", "clearml_server_mongo_image"),
                       "CLEARSTACK_TEST_REDIS_IMAGE": ("clearml_server", "clearml_server_redis_image")},
    "minio": {"CLEARSTACK_TEST_MINIO_IMAGE": ("minio", "minio_image"),
              "CLEARSTACK_TEST_MINIO_LB_IMAGE": ("minio", "minio_lb_image")},
}


def pinned(role: str, variable: str) -> str:
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())[variable]


def _pull(image: str) -> str | None:
    """None when the image is here (already, or pulled now); otherwise why not."""
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0:
        return None
    try:
        proc = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"`docker pull {image}` took more than {PULL_TIMEOUT_S} s"
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["failed"])[-1]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_with_real_images(scenario, tmp_path):
    env = {name: pinned(*where) for name, where in SCENARIOS[scenario].items()}
    for image in env.values():
        reason = _pull(image)
        if reason:
            pytest.skip(f"real images cannot be pulled here ({image}: {reason})")
    bundle = tmp_path / "real-images.tar"
    subprocess.run(["docker", "save", "-o", str(bundle), *env.values()], check=True, timeout=1200)
    molecule_test(scenario, tmp_path, {**env, "CLEARSTACK_TEST_IMAGE_BUNDLE": str(bundle)})
