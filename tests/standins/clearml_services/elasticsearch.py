"""Stand-in for elasticsearch:8.17.0: GET / (node info) and GET /_cluster/health (always green).

Configured like the real image, by environment variables with dots (cluster.name, node.name,
http.port); the others (discovery.type, ES_JAVA_OPTS, ...) are accepted and ignored. Nothing is stored.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from .common import Server, serve, setup_logging

VERSION = "8.17.0"


def _info() -> dict:
    return {
        "name": os.environ.get("node.name") or socket.gethostname(),
        "cluster_name": os.environ.get("cluster.name") or "docker-cluster",
        "cluster_uuid": CLUSTER_UUID,
        "version": {"number": VERSION, "build_flavor": "default", "build_type": "docker",
                    "lucene_version": "9.12.0", "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0"},
        "tagline": "You Know, for Search",
    }


def _health() -> dict:
    return {"cluster_name": os.environ.get("cluster.name") or "docker-cluster", "status": "green",
            "timed_out": False, "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": 0,
            "active_shards": 0, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
            "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}


CLUSTER_UUID = uuid.uuid4().hex[:22]
ROUTES = {"/": _info, "/_cluster/health": _health}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        route = ROUTES.get(urlsplit(self.path).path.rstrip("/") or "/")
        if route:
            code, data = 200, route()
        else:
            code, data = 404, {"error": {"type": "standin_unsupported",
                                         "reason": "the stand-in serves only / and /_cluster/health"},
                               "status": 404}
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-elastic-product", "Elasticsearch")  # the 8.x clients refuse a server without it
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


def main(argv: list[str] | None = None) -> int:
    # Arguments (eswrapper, -Ekey=value) are accepted and ignored, as settings come from the environment.
    setup_logging()
    port = int(os.environ.get("http.port") or 9200)
    return serve(Server(("0.0.0.0", port), Handler), "elasticsearch")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
