"""Every Molecule scenario, end to end: create, prepare, converge, idempotence (0 changed), verify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
TIMEOUT_S = 1200


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, tmp_path):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    log = tmp_path / f"molecule-{scenario}.log"
    with log.open("w") as out:
        proc = subprocess.run(["molecule", "test", "-s", scenario], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
    text = log.read_text()
    assert proc.returncode == 0, f"molecule test -s {scenario} failed; last lines:\n" + "\n".join(text.splitlines()[-60:])
    assert f"{scenario} > idempotence: Executed: Successful" in text or f"[{scenario} > idempotence] Executed: Successful" in text
