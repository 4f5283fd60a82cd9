"""The endpoint arguments of ``minio server``: ellipsis expansion, pools, erasure sets, which node is this one.

Rules followed (MinIO's cmd/endpoint-ellipses.go and pkg/ellipses, restated):
  - ``{N...M}`` (three dots) expands to N..M; decimal or lowercase hex; a leading zero pads to the
    width of M. Several ranges per argument multiply out, the LEFTMOST varying fastest, so that
    ``http://minio{1...4}:9000/data{1...2}`` lists minio1..4 for data1, then minio1..4 for data2.
  - Without any ellipsis the arguments are one pool (one argument alone = a single drive). With
    ellipses, every argument is a pool and every argument must have one.
  - A pool's drives are cut into erasure sets of 2..16 drives: the largest size that divides the
    drive count (and, with ellipses, is symmetric with the leftmost range). No such size: refused.
  - Endpoints are all URLs (http://host:port/path) or all local paths; URLs need a non-root path.
  - This node = the URL endpoints whose port is the --address port and whose host is this machine
    (hostname, or an IP that can be bound here); MINIO_STANDIN_SELF=host:port overrides, for several
    nodes on one machine.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SET_SIZES = range(2, 17)
_RANGE = re.compile(r"\{([0-9a-z]*)\.\.\.([0-9a-z]*)\}")


class EndpointError(ValueError):
    """The command line describes no valid deployment; the message says why."""


# ----------------------------------------------------------------------------------------------
# Ellipsis expansion
# ----------------------------------------------------------------------------------------------

def has_ellipses(arg: str) -> bool:
    # Same test as MinIO: braces alone already count, so "{1..4}" is a malformed range, not a path.
    return "..." in arg or ("{" in arg and "}" in arg)


def _number(text: str) -> tuple[int, bool]:
    """(value, is_hex). Decimal first, then lowercase hex, as MinIO parses."""
    if re.fullmatch(r"[0-9]+", text):
        return int(text, 10), False
    if re.fullmatch(r"[0-9a-f]+", text):
        return int(text, 16), True
    raise EndpointError(f"invalid number {text!r} in ellipsis range")


def expand_range(start_text: str, end_text: str) -> list[str]:
    start, hex_start = _number(start_text)
    end, hex_end = _number(end_text)
    if start > end:
        raise EndpointError(f"Incorrect range start {start} cannot be bigger than end {end}")
    hexadecimal = hex_start or hex_end
    padded = (start_text.startswith("0") and len(start_text) > 1) or end_text.startswith("0")
    spec = ("0" + str(len(end_text)) if padded else "") + ("x" if hexadecimal else "d")
    return [format(i, spec) for i in range(start, end + 1)]


def _format_error(arg: str) -> EndpointError:
    return EndpointError(
        f"Invalid ellipsis format in ({arg}), Ellipsis range must be provided in format {{N...M}} "
        "where N and M are positive integers, M must be greater than N")


def parse_ellipses(arg: str) -> tuple[list[str], list[list[str]]]:
    """Split ARG into literal pieces and ranges: literals[0] range[0] literals[1] range[1] ... literals[-1]."""
    literals, ranges, pos = [], [], 0
    for match in _RANGE.finditer(arg):
        literals.append(arg[pos:match.start()])
        ranges.append(expand_range(match.group(1), match.group(2)))
        pos = match.end()
    literals.append(arg[pos:])
    # Any brace or "..." left outside a well-formed range is a typo ({1..4}, {1...4, ...).
    if not ranges or any("{" in lit or "}" in lit or "..." in lit for lit in literals):
        raise _format_error(arg)
    return literals, ranges


def expand(arg: str) -> list[str]:
    """All endpoints of one ellipsis argument, in MinIO's order (leftmost range varies fastest)."""
    literals, ranges = parse_ellipses(arg)
    out = []
    for combo in itertools.product(*reversed(ranges)):
        labels = list(reversed(combo))
        out.append("".join(lit + (labels[i] if i < len(labels) else "") for i, lit in enumerate(literals)))
    return out


# ----------------------------------------------------------------------------------------------
# Pools and erasure sets
# ----------------------------------------------------------------------------------------------

def set_size(total: int, leftmost_range: int | None, args: list[str]) -> int:
    """Drives per erasure set for a pool of TOTAL drives (MinIO's getSetIndexes, without custom counts)."""
    if total < SET_SIZES[0]:
        raise EndpointError(f"Incorrect number of endpoints provided {args}")
    sizes = [s for s in SET_SIZES if total % s == 0]
    if not sizes:
        raise EndpointError(
            f"Incorrect number of endpoints provided {args}, number of drives {total} is not divisible "
            f"by any supported erasure set sizes {list(SET_SIZES)}")
    custom = os.environ.get("MINIO_ERASURE_SET_DRIVE_COUNT")
    if custom:
        if not custom.isdigit() or int(custom) not in sizes:
            raise EndpointError(f"Invalid set drive count. Acceptable values for {total} number drives are {sizes}")
        return int(custom)
    if leftmost_range is not None:
        # Symmetry: the set size and the leftmost range (usually the hosts) must divide one another,
        # so that every set spreads evenly over the nodes.
        sizes = [s for s in sizes if (leftmost_range % s == 0 if leftmost_range > s else s % leftmost_range == 0)]
        if not sizes:
            raise EndpointError(
                f"No symmetric distribution detected with input endpoints provided {args}, drives {total} "
                f"cannot be spread symmetrically by any supported erasure set sizes {list(SET_SIZES)}")
    return max(sizes)  # fewest sets


def pools_from_args(args: list[str]) -> list[list[list[str]]]:
    """Pools -> erasure sets -> endpoint strings."""
    if not args:
        raise EndpointError("no drives given: minio server needs at least one DIR or URL")
    if not any(has_ellipses(a) for a in args):
        sets = [list(args)] if len(args) == 1 else _cut(list(args), set_size(len(args), None, args))
        pools = [sets]
    else:
        if len(args) > 1 and not all(has_ellipses(a) for a in args):
            raise EndpointError(
                f"all args must have ellipses for pool expansion (Invalid arguments specified) args: {args}")
        pools = []
        for arg in args:
            literals, ranges = parse_ellipses(arg)
            endpoints = expand(arg)
            pools.append(_cut(endpoints, set_size(len(endpoints), len(ranges[0]), [arg])))
    seen: set[str] = set()
    for endpoint in (e for pool in pools for s in pool for e in s):
        if endpoint in seen:
            raise EndpointError(f"Input args ({args}) has duplicate ellipses or endpoints: {endpoint}")
        seen.add(endpoint)
    return pools


def _cut(endpoints: list[str], size: int) -> list[list[str]]:
    return [endpoints[i:i + size] for i in range(0, len(endpoints), size)]


# ----------------------------------------------------------------------------------------------
# Endpoints, nodes, this node
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    text: str
    node: str   # "host:port" for URLs; "local" for path endpoints
    path: str   # the drive directory


@dataclass
class Topology:
    pools: list[list[list[Endpoint]]]
    this_node: str
    url_style: bool
    nodes: list[str] = field(default_factory=list)  # every node, in command-line order

    @property
    def sets(self) -> list[list[Endpoint]]:
        return [s for pool in self.pools for s in pool]

    @property
    def peers(self) -> list[str]:
        return [n for n in self.nodes if n != self.this_node]

    @property
    def local_drives(self) -> list[str]:
        return [e.path for s in self.sets for e in s if e.node == self.this_node]


def split_address(address: str) -> tuple[str, int]:
    """':9000' -> ('', 9000); '127.0.0.1:9000'; '[::1]:9000'."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise EndpointError(f"invalid address {address!r}: expected [HOST]:PORT")
    return host.strip("[]"), int(port)


def _parse_endpoint(text: str, default_port: int) -> Endpoint:
    if "://" not in text:
        return Endpoint(text, "local", os.path.abspath(text))
    parts = urlsplit(text)
    if parts.scheme == "https":
        raise EndpointError(f"{text}: https endpoints are not supported by the MinIO stand-in (it serves plain HTTP)")
    if parts.scheme != "http" or not parts.hostname:
        raise EndpointError(f"{text}: invalid URL endpoint")
    if parts.path in ("", "/"):
        raise EndpointError(f"{text}: empty or root path is not supported in URL endpoint")
    try:
        port = parts.port or default_port
    except ValueError:
        raise EndpointError(f"{text}: invalid port") from None
    host = parts.hostname
    return Endpoint(text, f"[{host}]:{port}" if ":" in host else f"{host}:{port}", parts.path)


def _node_host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host.strip("[]"), int(port)


def _is_this_hostname(host: str) -> bool:
    names = {socket.gethostname(), socket.getfqdn(), os.environ.get("HOSTNAME", ""), "localhost"}
    return host.lower() in {n.lower() for n in names} - {""}


def _is_local_address(host: str) -> bool:
    """True if HOST resolves to an address of this machine (one that can be bound here)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False  # peers may not resolve yet (their containers not started): just not us
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((sockaddr[0], 0))
                return True
            except OSError:
                continue
    return False


def find_this_node(nodes: list[str], listen_port: int, override: str | None) -> str:
    if override:
        if override not in nodes:
            raise EndpointError(f"MINIO_STANDIN_SELF={override} is none of the nodes {nodes}")
        return override
    candidates = [n for n in nodes if _node_host_port(n)[1] == listen_port]
    # Hostnames first: no DNS lookups (slow for peers not started yet) when a name matches.
    mine = [n for n in candidates if _is_this_hostname(_node_host_port(n)[0])]
    if not mine:
        mine = [n for n in candidates if _is_local_address(_node_host_port(n)[0])]
    if not mine:
        raise EndpointError(
            f"no endpoint pointing to the local machine is found among {nodes} for port {listen_port} "
            "(set MINIO_STANDIN_SELF=host:port to name this node)")
    if len(mine) > 1:
        raise EndpointError(f"several endpoints point to this machine: {mine}; set MINIO_STANDIN_SELF=host:port")
    return mine[0]


def build_topology(args: list[str], address: str, override: str | None = None) -> Topology:
    """Everything `minio server` derives from its arguments; raises EndpointError like MinIO refuses."""
    _, listen_port = split_address(address)
    pools_text = pools_from_args(args)
    pools = [[[_parse_endpoint(e, listen_port) for e in s] for s in pool] for pool in pools_text]
    endpoints = [e for pool in pools for s in pool for e in s]
    styles = {e.node == "local" for e in endpoints}
    if len(styles) > 1:
        raise EndpointError("mixed style endpoints are not supported: use either URLs or local paths")
    url_style = styles == {False}
    nodes = list(dict.fromkeys(e.node for e in endpoints))
    this = find_this_node(nodes, listen_port, override) if url_style else "local"
    return Topology(pools=pools, this_node=this, url_style=url_style, nodes=nodes)


def check_local_drives(topology: Topology) -> None:
    for path in topology.local_drives:
        if not os.path.exists(path):
            raise EndpointError(f"drive {path}: does not exist (drives must be existing directories)")
        if not os.path.isdir(path):
            raise EndpointError(f"drive {path}: is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise EndpointError(f"drive {path}: is not writable")
