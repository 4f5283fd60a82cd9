"""Stand-in for mongosh, enough for the compose healthcheck
``mongosh --quiet --eval "quit(db.adminCommand('ping').ok ? 0 : 2)"``.

It does not run JavaScript: an --eval that asks for ``ping`` pings the mongod stand-in
(127.0.0.1:27017, or --host/--port or a mongodb:// URI); ``quit(<ping>.ok ? A : B)`` exits A when
the ping answers ok, else B. Unreachable server: exit 1 (as mongosh). Anything else: exit 1.
"""

from __future__ import annotations

import json
import re
import socket
import sys

QUIT = re.compile(r"quit\(.*\?\s*(\d+)\s*:\s*(\d+)\s*\)\s*;?\s*$", re.S)


def _address(argv: list[str]) -> tuple[str, int, str | None]:
    host, port, expr, i = "127.0.0.1", 27017, None, 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--eval", "--host", "--port") and i + 1 < len(argv):
            value = argv[i + 1]
            i += 1
            if arg == "--eval":
                expr = value
            elif arg == "--port":
                port = int(value)
            else:
                host, _, p = value.partition(":")
                port = int(p) if p else port
        elif not arg.startswith("-"):
            # mongodb://[user:pw@]host[:port][,more]/db?opts, or host[:port][/db]
            m = re.match(r"^(?:mongodb://(?:[^@/]*@)?)?([^/:,?]+)(?::(\d+))?", arg)
            if m and (arg.startswith("mongodb://") or "/" in arg or ":" in arg):
                host, port = m.group(1), int(m.group(2) or port)
        i += 1
    return host, port, expr


def ping(host: str, port: int, timeout: float = 5.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(b"ping\n")
        reply = conn.makefile("rb").readline()
    return json.loads(reply or b"{}").get("ok") == 1


def main(argv: list[str] | None = None) -> int:
    host, port, expr = _address(sys.argv[1:] if argv is None else argv)
    if not expr or "ping" not in expr:
        print("mongosh stand-in: only an --eval that pings is understood", file=sys.stderr)
        return 1
    try:
        ok = ping(host, port)
    except (OSError, ValueError) as ex:
        print(f"MongoNetworkError: {host}:{port}: {ex}", file=sys.stderr)
        return 1
    m = QUIT.search(expr)
    if m:
        return int(m.group(1) if ok else m.group(2))
    print("{ ok: 1 }" if ok else "{ ok: 0 }")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
