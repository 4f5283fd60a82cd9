#!/usr/bin/env bash
# Make `docker compose` (the Compose v2 CLI plugin) available on a test controller. The tests render
# the ClearML compose file and validate it with `docker compose config -q`. Debian 12 ships only
# Compose v1; trixie's docker-compose .deb (Compose v2) installs on it (it needs libc >= 2.34 only).
# It is fetched with a private apt configuration, so the system's own apt sources stay untouched.
set -euo pipefail

if docker compose version >/dev/null 2>&1; then
  exit 0
fi
# The machine's own Debian mirror: read at run time, never written into the repo.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -E 'debian/?$|debian[[:space:]]' | grep -v security | head -n1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
  echo "cannot find a Debian mirror in this machine's apt sources to fetch Compose v2 from" >&2
  exit 1
fi
work=$(mktemp -d /var/tmp/clearstack-compose.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/etc/preferences.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/etc/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/etc/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d" -o "Dir::State::Lists=$work/lists"
          -o "Dir::Cache::Archives=$work/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
echo "fetching Compose v2 (trixie's docker-compose package)" >&2
apt-get "${apt_opts[@]}" update -qq >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; exit 1; }
(cd "$work/archives" && apt-get "${apt_opts[@]}" download docker-compose >>"$work/apt.log" 2>&1) \
  || { tail -n 20 "$work/apt.log" >&2; exit 1; }
dpkg -i "$work"/archives/docker-compose_*.deb >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; exit 1; }
docker compose version >/dev/null
