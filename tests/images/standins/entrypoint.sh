#!/bin/bash
# bash, not dash: dash drops environment variables whose names are not identifiers, and the
# Elasticsearch image is configured by such names (cluster.name=..., discovery.type=...).
# One entrypoint for every tag of the stand-in image: CLEARSTACK_STANDIN (set by the tag) says which
# image it stands in for; each branch treats its arguments the way that image's entrypoint does.
# Every service is exec'd, so it is PID 1 and gets docker stop's SIGTERM itself.
standins() { exec env PYTHONPATH=/opt/standins python3 -m "$@"; }

case "${CLEARSTACK_STANDIN:-minio}" in
  minio)
    # As MinIO's image does: a first argument that is not a program (e.g. "server") is passed to minio.
    if [ "${1:-}" = server ] || [ "${1#-}" != "${1:-}" ]; then
      set -- minio "$@"
    fi ;;
  clearml-server)
    # clearml/server:2.x, as its compose file runs it.
    case "${1:-}" in
      # The real apiserver keeps projects and tasks in MongoDB and Elasticsearch, whose data outlive a
      # restart; the stand-in keeps them in a file on the one data mount the compose file gives it.
      apiserver) shift; standins clearml_api --host 0.0.0.0 --port 8008 --state-file /mnt/fileserver/.apiserver-standin-state.json "$@" ;;
      fileserver) shift; standins clearml_services.fileserver "$@" ;;
      webserver) shift; standins clearml_services.webserver "$@" ;;
      "") echo "usage: apiserver | fileserver | webserver (clearml-server stand-in)" >&2; exit 2 ;;
    esac ;;
  elasticsearch)
    if [ $# -eq 0 ] || [ "$1" = eswrapper ] || [ "${1#-}" != "$1" ]; then
      [ "${1:-}" = eswrapper ] && shift
      standins clearml_services.elasticsearch "$@"
    fi ;;
  mongo)
    # As the mongo image does: arguments alone (--setParameter ...) are mongod's.
    if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
      set -- mongod "$@"
    fi ;;
  redis)
    # As the redis image does: arguments alone (or a .conf file) are redis-server's. Without a config
    # file it listens on all interfaces, protected mode off, in the foreground, logs to stdout, dir /data.
    if [ $# -eq 0 ] || [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
      set -- redis-server "$@"
    fi
    if [ "$1" = redis-server ] && [ "${2%.conf}" = "${2:-}" ]; then
      shift
      set -- redis-server --bind '*' '-::*' --protected-mode no --daemonize no --logfile '' --dir /data "$@"
    fi ;;
  *)
    echo "unknown CLEARSTACK_STANDIN=${CLEARSTACK_STANDIN}" >&2; exit 2 ;;
esac
exec "$@"
