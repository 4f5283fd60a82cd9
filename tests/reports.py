"""Result tables some test modules print at the end of a run (the drift catalogue, the reliability
suite, ...).

Under pytest-xdist a worker's output is not shown, so each table is also written under
$CLEARSTACK_REPORT_DIR: whole tables as <name>.md, rows that several modules (on several workers)
add to one table as lines of <name>.jsonl. scripts/test.sh prints both after pytest
(`python tests/reports.py DIR`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

RELIABILITY_TITLE = "Reliability and security suite (pytest -m reliability)"


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


# pytest's per-run temporary folders, named in some observed messages: shown as <tmp> so a table can
# be pasted into a doc or an issue without this machine's paths.
_PYTEST_TMP = re.compile(re.escape(tempfile.gettempdir()) + r"/pytest-of-[^/]+/pytest-\d+/(popen-gw\d+/)?")


def record(name: str, area: str, rows: list[dict]) -> None:
    """Add rows, under the heading `area`, to the shared table `name` (one JSON line per row)."""
    if not rows:
        return
    rows = [{k: _PYTEST_TMP.sub("<tmp>/", v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    print(f"\n{area}\n\n{markdown(rows)}")
    directory = os.environ.get("CLEARSTACK_REPORT_DIR")
    if directory:
        with Path(directory, f"{name}.jsonl").open("a") as out:  # one short write per row: safe across workers
            for row in rows:
                out.write(json.dumps({"area": area, "row": row}) + "\n")


def render(directory: Path) -> str:
    """Every table under directory: the .md ones as written, each .jsonl one grouped by area."""
    parts = [path.read_text() for path in sorted(directory.glob("*.md"))]
    for path in sorted(directory.glob("*.jsonl")):
        areas: dict[str, list[dict]] = {}
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            areas.setdefault(entry["area"], []).append(entry["row"])
        title = RELIABILITY_TITLE if path.stem == "reliability" else path.stem
        parts.append(f"{title}\n\n" + "\n".join(f"{area}\n\n{markdown(rows)}" for area, rows in sorted(areas.items())))
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(Path(sys.argv[1])), end="")
