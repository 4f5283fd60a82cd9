"""Molecule scenario of the clearml_server role (its own module: pytest-xdist gives each file a worker)."""

import pytest

from molecule_runner import molecule_test


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", ["clearml_server"])
def test_scenario(scenario, tmp_path):
    molecule_test(scenario, tmp_path)
