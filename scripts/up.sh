#!/usr/bin/env bash
# Set up the controller (apt packages, .venv) and run `clearstack up`; arguments go to it
# (default inventory: inventory/local, this host all-in-one).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/clearstack" up "$@"
