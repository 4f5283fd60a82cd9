#!/bin/sh
# As MinIO's image does: a first argument that is not a program (e.g. "server") is passed to minio.
if [ "${1:-}" = server ] || [ "${1#-}" != "${1:-}" ]; then
  set -- minio "$@"
fi
exec "$@"
