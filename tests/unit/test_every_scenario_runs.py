"""Every Molecule scenario under molecule/ is run by one of the pytest modules, so none is forgotten."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_molecule_scenario_is_listed_in_a_pytest_module():
    scenarios = {p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")}
    listed = set()
    for module in (ROOT / "tests/integration").glob("test_molecule_*.py"):
        for match in re.finditer(r'parametrize\("scenario", \[([^\]]*)\]', module.read_text()):
            listed |= set(re.findall(r'"([^"]+)"', match.group(1)))
    assert scenarios == listed, f"not run: {sorted(scenarios - listed)}; listed but missing: {sorted(listed - scenarios)}"
