#!/usr/bin/env bash
# Ensure a Docker engine answers on this machine. Starts dockerd detached when none runs (CI machines
# have no systemd) and prints the PID it started, or nothing when one was already running.
set -euo pipefail

log=/var/log/clearstack-dockerd.log
timeout_s=60

if docker info >/dev/null 2>&1; then
  exit 0
fi

# Address pools of our own, clear of the ranges this workplace reserves (see ENVIRONMENT.md).
if [ ! -s /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  cat >/etc/docker/daemon.json <<'JSON'
{
  "bip": "10.230.0.1/24",
  "default-address-pools": [{"base": "10.231.0.0/16", "size": 24}],
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "3"}
}
JSON
fi

# Detached from our stdout/stderr so the calling script can end.
setsid dockerd >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 "$timeout_s"); do
  if docker info >/dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within ${timeout_s}s; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
