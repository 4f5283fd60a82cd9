"""The judgements behind preflight's refusals, as plain Python (tests/unit/test_preflight_checks.py).

The tasks gather facts and command output; these functions decide what is wrong and say it. Each
returns a list of findings (empty when the check passes), so a task asserts `| length == 0` and
joins the findings into its one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

GIB = 1024 ** 3


def disk_shortfalls(results: Iterable[Mapping], host: str) -> list[str]:
    """One sentence per data path with less free space than it needs.

    results: the registered loop of the measuring task; each item names path, what, min_gb and var
    (the variable that sets min_gb), and its stdout_lines are [nearest existing parent, free bytes].
    """
    found = []
    for r in results:
        item, (measured_at, free) = r["item"], r["stdout_lines"][:2]
        if int(free) >= float(item["min_gb"]) * GIB:
            continue
        where = item["path"] if measured_at == item["path"] else f"{item['path']}, measured at {measured_at}"
        found.append(f"{host} has {round(int(free) / GIB, 1)} GiB free on the filesystem that will hold the "
                     f"{item['what']} ({where}); it needs {item['min_gb']} GiB ({item['var']}).")
    return found


def port_clashes(published: Iterable[Mapping]) -> list[str]:
    """Ports that two things on one host would publish: 'port 9000 for A and B'."""
    users: dict[int, list[str]] = {}
    for p in published:
        users.setdefault(int(p["port"]), []).append(p["what"])
    return [f"port {port} for {' and '.join(whats)}" for port, whats in sorted(users.items()) if len(whats) > 1]


def unpinned_images(images: Mapping[str, object], pattern: str) -> list[str]:
    """Names of the image variables whose value is not a pinned reference (name:tag, a digest, not latest)."""
    bad = []
    for name, ref in images.items():
        if not isinstance(ref, str) or not re.match(pattern, ref) or re.search(r":latest(@|$)", ref):
            bad.append(name)
    return bad


def unpinned_image_sentences(images: Mapping[str, object], pattern: str, host: str) -> list[str]:
    """unpinned_images, each as "minio_image is 'minio' on host1, not a pinned image reference"."""
    return [f"{name} is '{images[name]}' on {host}, not a pinned image reference." for name in unpinned_images(images, pattern)]


# ss -H -ltnp columns: state, recv-q, send-q, local address:port, peer, then users:(("name",pid=N,fd=M),...)
_SS_PORT = re.compile(r"^\S+\s+\S+\s+\S+\s+\S*:([0-9]+)\s")
_SS_HOLDER = re.compile(r'[(]"([^"]*)",pid=([0-9]+)')


def foreign_listeners(ss_lines: Iterable[str], container_lines: Iterable[str],
                      allowed_owners: Iterable[str], own_containers: Iterable[str]) -> list[dict]:
    """The listeners from `ss -Hltnp` that belong to something other than this deployment.

    A listener is ours when every process holding it is named in allowed_owners (docker-proxy on a
    re-run) or runs in one of own_containers (container_lines: "<pid> <container name>"). One whose
    holders ss cannot name is foreign. Each finding: port, address, holders ["name (pid N)", ...].
    """
    allowed, own = set(allowed_owners), set(own_containers)
    own_pids = {parts[0] for parts in (line.split() for line in container_lines) if len(parts) > 1 and parts[1] in own}
    found = []
    for line in ss_lines:
        holders = _SS_HOLDER.findall(line)
        if holders and all(name in allowed or pid in own_pids for name, pid in holders):
            continue
        port = _SS_PORT.match(line)
        found.append({"port": port.group(1) if port else "?", "address": line.split()[3] if len(line.split()) > 3 else "?",
                      "holders": sorted({f"{name} (pid {pid})" for name, pid in holders})})
    return found


def listener_report(listeners: Iterable[Mapping]) -> str:
    """'port 8080 on 0.0.0.0:8080 held by python3 (pid 12); port ...' for foreign_listeners' findings."""
    return "; ".join(f"port {x['port']} on {x['address']} held by {', '.join(x['holders']) or 'a process ss does not name'}"
                     for x in listeners)


def clock_offsets(hosts: list[str], clocks: list[int]) -> tuple[int, str]:
    """The spread of the hosts' clocks (seconds) and each host's offset from the median, as text."""
    if not clocks:
        return 0, ""
    median = sorted(clocks)[(len(clocks) - 1) // 2]
    return max(clocks) - min(clocks), ", ".join(f"{h} {c - median:+d} s" for h, c in zip(hosts, clocks))


def replacement_sentence(names: Iterable[str], replacements: Mapping[str, str]) -> str:
    """"a is replaced by x; b is replaced by y." for the variables the inventory still sets."""
    return "; ".join(f"{name} is replaced by {replacements[name]}" for name in names) + "."


class FilterModule:
    def filters(self):
        return {"preflight_disk_shortfalls": disk_shortfalls, "preflight_port_clashes": port_clashes,
                "preflight_unpinned_images": unpinned_images,
                "preflight_unpinned_image_sentences": unpinned_image_sentences, "preflight_foreign_listeners": foreign_listeners,
                "preflight_listener_report": listener_report, "preflight_clock_offsets": clock_offsets,
                "preflight_replacement_sentence": replacement_sentence}
