"""Molecule scenarios of the host-layer roles (one file per pytest-xdist worker share)."""

import pytest

from molecule_runner import molecule_test


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", ["kernel", "clearml_dirs", "docker", "preflight", "clearml_client"])
def test_scenario(scenario, tmp_path):
    molecule_test(scenario, tmp_path)
