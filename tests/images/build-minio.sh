#!/usr/bin/env bash
# Make sure the real MinIO server binary the dataset tests run is built and cached: the release named in
# tests/minio_server.py (RELEASE), compiled from MinIO's Go module by the product's own build code
# (clearstack.images.minio_build.ensure_binary: the binary alone, no Docker) into
# $CLEARSTACK_CACHE_DIR/minio/<release>/minio (default /var/cache/clearstack). A cached binary whose
# build.json still matches is reused at once; otherwise it compiles: Go >= 1.24 on PATH or at
# /usr/local/go, the Go module proxy, minutes on a new machine (its Go caches are kept there too).
# Run by scripts/test.sh before pytest; needs .venv (scripts/bootstrap.sh --test). Progress goes to
# stderr; the binary's path is printed on the last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
python="$root/.venv/bin/python"
if [ ! -x "$python" ]; then
  echo "tests/images/build-minio.sh: no $python: run scripts/bootstrap.sh --test first" >&2
  exit 1
fi
exec "$python" - "$root/tests" <<'PY'
import sys

sys.path.insert(0, sys.argv[1])
from minio_server import RELEASE  # noqa: E402

from clearstack.images import minio_build  # noqa: E402
from clearstack.images.errors import ImageBuildError  # noqa: E402

try:
    result = minio_build.ensure_binary(RELEASE, say=lambda msg: print(msg, file=sys.stderr, flush=True))
except ImageBuildError as err:
    sys.exit(f"tests/images/build-minio.sh: {err}")
how = "cached" if result.cached else f"built in {result.seconds:.0f} s"
print(f"MinIO {result.release} ({how}, {result.go}, sha256 {result.sha256[:12]})", file=sys.stderr)
print(result.binary)
PY
