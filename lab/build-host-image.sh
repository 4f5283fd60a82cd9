#!/usr/bin/env bash
# Build the lab host image: a "fresh Debian 13 VM" as a systemd container (debootstrap, no registry
# needed: systemd + sshd + python3), imported into the local Docker engine. `clearstack lab up` runs
# its hosts from it, and so do the Molecule scenarios and the integration tests.
# Cached by a hash of this recipe (this script, the package list and lab/overlay/): an image whose
# label matches is reused, and the rootfs tarball is kept under /var/cache so a wiped engine
# re-imports in seconds. Needs root and debootstrap.
# CLEARSTACK_LAB_IMAGE overrides the image name; CLEARSTACK_LAB_MIRROR the Debian mirror (by default
# the first Debian mirror of this machine's apt sources).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${CLEARSTACK_LAB_IMAGE:-clearstack-lab/trixie-systemd:local}
suite=trixie
packages=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,iproute2,procps,ca-certificates,iputils-ping
cache_dir=/var/cache/clearstack/lab-images

# Contents and relative names of the overlay (not absolute paths: a clone elsewhere reuses the cache).
recipe_hash=$( { cat "$0"; echo "$suite $packages"
  (cd "$here/overlay" && find . -type f | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done); } \
  | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "clearstack.recipe" }}' "$image" 2>/dev/null)" = "$recipe_hash" ]; then
  echo "lab host image $image is current ($recipe_hash)"
  exit 0
fi

mkdir -p "$cache_dir"
tarball="$cache_dir/$suite-$recipe_hash.tar"
if [ ! -s "$tarball" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "building the lab host image $image needs root (debootstrap, chroot): run this as root once" >&2
    exit 1
  fi
  if ! command -v debootstrap >/dev/null; then
    echo "debootstrap is missing: install it (apt-get install debootstrap), then run this again" >&2
    exit 1
  fi
  # The machine's own Debian mirror: read at run time, never written into the repo.
  mirror=${CLEARSTACK_LAB_MIRROR:-$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -E 'debian/?$|debian[[:space:]]' | grep -v security | head -n1 | awk '{print $2}' || true)}
  if [ -z "$mirror" ]; then
    echo "cannot find a Debian mirror in this machine's apt sources: set CLEARSTACK_LAB_MIRROR to the URL" \
      "of a Debian mirror that has $suite, then run this again" >&2
    exit 1
  fi
  root=$(mktemp -d /var/tmp/clearstack-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap $suite from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache_dir/debootstrap.log" >&2
         echo "debootstrap $suite from $mirror failed (log: $cache_dir/debootstrap.log); set CLEARSTACK_LAB_MIRROR" \
           "to a Debian mirror that has $suite" >&2
         exit 1; }
  cp -a "$here/overlay/." "$root/"
  chroot "$root" /bin/sh -c '
    set -e
    systemctl enable proc-sys-net-writable.service lab-max-map-count.service ssh.service
    systemctl mask getty.target console-getty.service systemd-logind.service systemd-firstboot.service \
      systemd-udevd.service systemd-udev-trigger.service systemd-networkd-wait-online.service
    echo "root:*" | chpasswd -e
    rm -f /etc/ssh/ssh_host_*  # each container makes its own host keys on first boot
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    # Like a VM whose package lists are old: roles that honour apt cache_valid_time must refresh them.
    touch -d @0 /var/lib/apt/lists
    : >/etc/machine-id
  ' >>"$cache_dir/debootstrap.log" 2>&1
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  # Superseded recipes' rootfs tarballs would only fill the disk.
  find "$cache_dir" -maxdepth 1 -name "$suite-*.tar" -not -name "$suite-$recipe_hash.tar" -delete
fi

docker import "$tarball" "$image-rootfs" >/dev/null
# `docker import` cannot set STOPSIGNAL; a two-line build can (systemd halts cleanly on SIGRTMIN+3).
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL clearstack.recipe=%s\nCMD ["/lib/systemd/systemd"]\n' \
  "$image-rootfs" "$recipe_hash" | docker build -q -t "$image" - >>"$cache_dir/debootstrap.log" 2>&1
docker rmi "$image-rootfs" >/dev/null
# The previous build, now untagged, would otherwise stay behind on every recipe change.
docker image prune -f --filter "label=clearstack.recipe" >/dev/null
echo "built lab host image $image ($recipe_hash)"
