#!/usr/bin/env bash
# Install what clearstack and its tests need on a brand-new Debian/Ubuntu controller: system
# packages and a venv with the driver and its tools in .venv/ (with --test: the test tools, Docker's
# engine and debootstrap too). Safe to re-run; each step skips what is done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
with_test=false
[ "${1:-}" = "--test" ] && with_test=true

need_pkgs=(python3-venv git)
# iproute2: network namespaces of the MinIO pool test; gpg signs the stand-in apt repository of molecule/docker.
$with_test && need_pkgs+=(docker.io debootstrap busybox-static iproute2 gpg)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests validate the rendered ClearML compose file with `docker compose config -q`.
$with_test && "$root/scripts/install-compose-v2.sh"

venv="$root/.venv"
stamp="$venv/.clearstack-installed"
want=$(sha256sum "$root/pyproject.toml" | cut -c1-16)$($with_test && echo -test)
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing Python packages into .venv"
  extra=""
  $with_test && extra="[test]"
  # pip's output goes to a log, shown only when it fails: it warns about every local index it skips.
  if ! { "$venv/bin/pip" install -q --upgrade pip && "$venv/bin/pip" install -q -e "$root$extra"; } >"$venv/pip.log" 2>&1; then
    tail -n 40 "$venv/pip.log" >&2
    exit 1
  fi
  # setuptools leaves this build by-product in the source tree (with a copy of the README); the editable
  # install runs from the venv's dist-info and does not read it.
  rm -rf "$root/driver/clearstack.egg-info"
  echo "$want" >"$stamp"
fi
