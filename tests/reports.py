"""Result tables some test modules print at the end of a run (the drift catalogue, ...).

Under pytest-xdist a worker's output is not shown, so each table is also written to
$CLEARSTACK_REPORT_DIR/<name>.md, which scripts/test.sh prints after pytest."""

from __future__ import annotations

import os
from pathlib import Path


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    cell = {True: "yes", False: "NO"}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell.get(r[c], r[c]) if isinstance(r[c], bool) else r[c]) for c in columns) + " |"
              for r in rows]
    return "\n".join(lines) + "\n"


def publish(name: str, title: str, rows: list[dict]) -> None:
    if not rows:
        return
    text = f"{title}\n\n{markdown(rows)}"
    print("\n" + text)
    directory = os.environ.get("CLEARSTACK_REPORT_DIR")
    if directory:
        Path(directory, f"{name}.md").write_text(text)
