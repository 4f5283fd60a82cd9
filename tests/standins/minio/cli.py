"""``minio server [--address ADDR] [--console-address ADDR] DIR|URL...``: check everything, then serve.

Refused with a message on stderr and exit status 1, before anything is written (as MinIO refuses):
malformed ellipses, bad drive counts, mixed URL/path endpoints, a node that cannot find itself
among the URLs, local drives that are missing or not directories, missing or too short
credentials (MINIO_ROOT_USER >= 3, MINIO_ROOT_PASSWORD >= 8 characters; the *_FILE variants name
a file, or a Docker secret under /run/secrets, holding the value). Unlike MinIO there is no
minioadmin default: both are required. Usage errors exit 2 (argparse).

Environment: MINIO_VOLUMES stands for the drive arguments when none are given (as MinIO);
MINIO_STANDIN_SELF=host:port names this node among the URLs (several nodes on one machine); MINIO_STANDIN_LOG=DEBUG|INFO|WARNING (default INFO, on stderr); MINIO_REGION (reported by
GetBucketLocation); MINIO_STORAGE_CLASS_STANDARD=EC:N and MINIO_ERASURE_SET_DRIVE_COUNT as MinIO.
SIGTERM or SIGINT stops the node (exit 0).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from .cluster import Cluster
from .endpoints import EndpointError, build_topology, check_local_drives, split_address
from .httpd import ConsoleServer, NodeServer, serve_in_thread
from .s3 import S3Api
from .sigv4 import Credentials
from .storage import Storage

log = logging.getLogger("minio_standin")


class ConfigError(Exception):
    pass


def _env_or_file(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(name + "_FILE")
    if not path:
        return None
    candidate = Path(path) if os.path.isabs(path) else Path("/run/secrets") / path
    try:
        return candidate.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {name}_FILE={path}: {exc.strerror}") from None


def credentials_from_env() -> Credentials:
    user, password = _env_or_file("MINIO_ROOT_USER"), _env_or_file("MINIO_ROOT_PASSWORD")
    if not user or not password:
        raise ConfigError("MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must both be set (the stand-in has no default "
                          "credentials)")
    if len(user) < 3:
        raise ConfigError("Invalid credentials: access key length should be at least 3 characters (MINIO_ROOT_USER)")
    if len(password) < 8:
        raise ConfigError("Invalid credentials: secret key length should be at least 8 characters "
                          "(MINIO_ROOT_PASSWORD)")
    return Credentials(user, password)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minio", description="MinIO server stand-in (test double).")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="start the object storage server")
    server.add_argument("--address", default=":9000", help="bind to a specific ADDRESS:PORT (default :9000)")
    server.add_argument("--console-address", default="",
                        help="bind the console to ADDRESS:PORT (default: any free port)")
    server.add_argument("--certs-dir", "-S", default=None, help="accepted and ignored (the stand-in has no TLS)")
    server.add_argument("--quiet", action="store_true", help="accepted; same as MINIO_STANDIN_LOG=WARNING")
    server.add_argument("--json", action="store_true", help="accepted and ignored")
    server.add_argument("endpoints", nargs="*", metavar="DIR|URL",
                        help="drives: paths, or URLs of every node (default: $MINIO_VOLUMES, as MinIO)")
    args = parser.parse_args(argv)
    if not args.endpoints:
        args.endpoints = os.environ.get("MINIO_VOLUMES", "").split()
    if not args.endpoints:
        server.error("no drives given (arguments or MINIO_VOLUMES)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    level = "WARNING" if args.quiet else os.environ.get("MINIO_STANDIN_LOG", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        creds = credentials_from_env()
    except ConfigError as exc:
        print(f"ERROR Unable to validate credentials inherited from the shell environment: {exc}", file=sys.stderr)
        return 1
    try:
        topology = build_topology(args.endpoints, args.address, os.environ.get("MINIO_STANDIN_SELF") or None)
        check_local_drives(topology)
        host, port = split_address(args.address)
        console = split_address(args.console_address) if args.console_address else (host, 0)
    except EndpointError as exc:
        print(f"ERROR Invalid command line arguments: {exc}", file=sys.stderr)
        return 1

    storage = Storage(topology.local_drives, topology.this_node)
    storage.open()
    cluster = Cluster(topology, storage, creds.access_key, creds.secret_key)
    cluster.start()  # catches up with reachable peers before the API answers
    try:
        api = S3Api(storage, cluster, creds, os.environ.get("MINIO_REGION", ""))
        api_server = NodeServer((host, port), api, cluster)
        console_server = ConsoleServer(console)
    except OSError as exc:
        print(f"ERROR Unable to start the server: {exc}", file=sys.stderr)
        cluster.stop()
        return 1

    # The handler only flips a flag: it runs on the main thread between bytecodes, and taking a lock
    # there (Event.set while the main thread sits in Event.wait) can deadlock.
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    serve_in_thread(api_server, "api")
    serve_in_thread(console_server, "console")
    shown = host or "0.0.0.0"
    log.info("MinIO stand-in node %s (%d node(s), %d local drive(s)) API: http://%s:%d  Console: http://%s:%d",
             topology.this_node, len(topology.nodes), len(topology.local_drives), shown, port,
             console[0] or "0.0.0.0", console_server.server_address[1])
    while not stopping:
        time.sleep(0.2)
    log.info("stopping on signal %d", stopping[0])
    api_server.shutdown()
    console_server.shutdown()
    api_server.server_close()
    console_server.server_close()
    cluster.stop()
    return 0
