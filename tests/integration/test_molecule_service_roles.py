"""Molecule scenarios of the service roles, on Docker-in-Docker test hosts with the stand-in images."""

import pytest

from molecule_runner import molecule_test


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", ["minio", "minio_cluster"])
def test_scenario(scenario, tmp_path):
    molecule_test(scenario, tmp_path)
