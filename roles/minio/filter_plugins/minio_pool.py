"""The MinIO server pool as ONE ellipsis argument: http://minio{1...4}.example.internal:9000/data{1...2}.

Why one argument with ellipses (minio/minio RELEASE.2025-09-07T16-13-09Z, cmd/endpoint-ellipses.go,
mergeDisksLayoutFromArgs): arguments without any `{x...y}` are a "legacy" layout, one pool that can
never be joined by another ("all args must have ellipses for pool expansion"; the pool admin APIs
answer NotImplemented for it, cmd/admin-handlers-pools.go); and each argument WITH ellipses is one
pool of its own, so the whole cluster must be one argument.

How MinIO reads the range (minio/pkg v3.1.3, the version that release's go.mod pins,
ellipses/ellipses.go parseEllipsesRange): `{N...M}` counts N..M, start <= end; if N has a leading
zero (and more than one digit) or M starts with 0, every number is zero-padded to the width of M
(`{01...04}` = 01 02 03 04, `{08...11}` = 08 09 10 11). Expansion (Expand/argExpander) runs the drive
range outermost, so the drive order is data1 of every host, then data2 ...: the same order as the
drive-by-drive list this replaces, and erasure sets cut from it spread over the hosts.

Plain functions (unit-tested in tests/unit/test_minio_pool.py) and the FilterModule at the bottom.
"""

from __future__ import annotations

import re

_DIGITS_AT_END = re.compile(r"\d+$")
_DIGITS_AT_START = re.compile(r"^\d+")


class MinioPoolError(ValueError):
    """Host names that cannot be written as one MinIO ellipsis range."""


def _refuse(names: list[str], why: str) -> MinioPoolError:
    return MinioPoolError(
        f"The MinIO hosts {', '.join(names)} cannot be written as one MinIO host range ({why}). "
        "All nodes of the pool are ONE ellipsis argument, http://<prefix>{N...M}<suffix>:<port>/data..., "
        "so their names must be the same text around consecutive numbers. "
        "Fix: rename the hosts so their names count up, e.g. minio1..minio4 (or minio01..minio04), "
        "keeping the same prefix and suffix (e.g. minio1.example.internal..minio4.example.internal).")


def _common_prefix(names: list[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _expand(start: str, end: str) -> list[str]:
    """The numbers MinIO's parseEllipsesRange makes of {start...end} (decimal)."""
    padded = (start.startswith("0") and len(start) > 1) or end.startswith("0")
    return [str(i).zfill(len(end)) if padded else str(i) for i in range(int(start), int(end) + 1)]


def minio_host_range(names: list[str]) -> str:
    """`<prefix>{N...M}<suffix>` for host names that are one prefix and suffix around consecutive numbers,
    in any order; a single name as it is. Raises MinioPoolError naming the hosts and the fix otherwise."""
    names = [str(n) for n in names]
    if not names:
        raise MinioPoolError("No MinIO hosts: the group of MinIO hosts is empty.")
    if len(set(names)) != len(names):
        raise _refuse(names, "a name appears twice")
    if len(names) == 1:
        return names[0]
    prefix = _common_prefix(names)
    suffix = _common_prefix([n[::-1] for n in names])[::-1]
    # The number is every digit around the differing part: minio10..minio13 share "minio1", which
    # belongs to the number, not to the prefix.
    prefix = _DIGITS_AT_END.sub("", prefix)
    suffix = _DIGITS_AT_START.sub("", suffix)
    numbers = {}
    for name in names:
        middle = name[len(prefix): len(name) - len(suffix)] if len(name) >= len(prefix) + len(suffix) else ""
        if not middle.isdigit() or not middle.isascii():
            raise _refuse(names, f"they differ outside one number: common prefix '{prefix}', common suffix "
                                 f"'{suffix}', and '{name}' has '{middle}' between them, not a number")
        numbers[name] = middle
    ordered = sorted(numbers.values(), key=int)
    start, end = ordered[0], ordered[-1]
    if _expand(start, end) != ordered:
        raise _refuse(names, f"the numbers {', '.join(ordered)} are not a consecutive run with one zero padding, "
                             f"which MinIO would read as {{{start}...{end}}} = {', '.join(_expand(start, end))}")
    return f"{prefix}{{{start}...{end}}}{suffix}"


def minio_pool_arg(names: list[str], port: int | str, drives: int | str, path: str = "/data") -> str:
    """The one server-pool argument of every node: http://<host range>:<port>/data{1...drives}
    (/data1 for one drive). `path` is where each node sees its drives (the containers' /data1 ...)."""
    drives = int(drives)
    if drives < 1:
        raise MinioPoolError(f"minio_drives_per_node is {drives}; every node needs at least one drive.")
    drive = f"{path}1" if drives == 1 else f"{path}{{1...{drives}}}"
    return f"http://{minio_host_range(names)}:{int(port)}{drive}"


def minio_pool_error(names: list[str]) -> str:
    """The refusal minio_host_range would raise for these names, or '' when they fit (for the precheck)."""
    try:
        minio_host_range(names)
    except MinioPoolError as err:
        return str(err)
    return ""


def _ansible(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MinioPoolError as err:
            from ansible.errors import AnsibleFilterError
            raise AnsibleFilterError(str(err)) from err
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class FilterModule:
    def filters(self):
        return {"minio_host_range": _ansible(minio_host_range), "minio_pool_arg": _ansible(minio_pool_arg),
                "minio_pool_error": minio_pool_error}
