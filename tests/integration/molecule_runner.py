"""Run one Molecule scenario end to end for pytest (create, prepare, converge, idempotence, verify)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 1200


def molecule_test(scenario: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
    env = {**os.environ, **(extra_env or {})}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    log = log_dir / f"molecule-{scenario}.log"
    with log.open("w") as out:
        proc = subprocess.run(["molecule", "test", "-s", scenario], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
    text = log.read_text()
    assert proc.returncode == 0, f"molecule test -s {scenario} failed; last lines:\n" + "\n".join(text.splitlines()[-60:])
    assert f"{scenario} > idempotence: Executed: Successful" in text, f"{scenario}: no successful idempotence step"
