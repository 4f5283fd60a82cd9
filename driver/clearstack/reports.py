"""Tables for the read-only commands: `verify` (checks per host) and `status` (containers per host)."""

from __future__ import annotations

from .runner import RunResult


def checks(result: RunResult) -> list[dict]:
    """Every check of every host: {host, check, ok, detail}, hosts in name order."""
    rows = []
    for host in sorted(result.hosts):
        for row in result.hosts[host].reports.get("checks", []):
            rows.append({"host": host, "check": str(row.get("check")), "ok": bool(row.get("ok")),
                         "detail": str(row.get("detail", ""))})
    return rows


def containers(result: RunResult) -> list[dict]:
    """Every container of every host: {host, name, image, state, status}."""
    rows = []
    for host in sorted(result.hosts):
        for name, image, state, status in result.hosts[host].reports.get("containers", []):
            rows.append({"host": host, "name": name.lstrip("/"), "image": image, "state": state, "status": status})
    return rows


def table(rows: list[dict], columns: list[str]) -> str:
    """Plain aligned columns, header first."""
    cells = [[c.upper() for c in columns]] + [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "ok" if value else "FAIL"
    return str(value)
