#!/usr/bin/env bash
# Build the "fresh Debian 13 VM" image that Molecule scenarios and integration tests run as hosts:
# debootstrap (no registry needed) + systemd + sshd + python3, imported into the local engine.
# Cached by a hash of this recipe: an image whose label matches is reused, and the rootfs tarball
# is kept under /var/cache so a wiped engine re-imports in seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${CLEARSTACK_TEST_IMAGE:-clearstack-test/trixie-systemd:local}
suite=trixie
packages=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,iproute2,procps,ca-certificates,iputils-ping
cache_dir=/var/cache/clearstack/test-images

recipe_hash=$( { cat "$0"; find "$here/trixie-systemd" -type f | sort | xargs cat; echo "$suite $packages"; } \
  | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "clearstack.recipe" }}' "$image" 2>/dev/null)" = "$recipe_hash" ]; then
  echo "test host image $image is current ($recipe_hash)"
  exit 0
fi

# The machine's own Debian mirror: read at run time, never written into the repo.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -E 'debian/?$|debian[[:space:]]' | grep -v security | head -n1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
  echo "cannot find a Debian mirror in this machine's apt sources" >&2
  exit 1
fi

mkdir -p "$cache_dir"
tarball="$cache_dir/$suite-$recipe_hash.tar"
if [ ! -s "$tarball" ]; then
  root=$(mktemp -d /var/tmp/clearstack-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap $suite from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache_dir/debootstrap.log" >&2; exit 1; }
  cp -a "$here/trixie-systemd/rootfs-overlay/." "$root/"
  chroot "$root" /bin/sh -c '
    set -e
    systemctl enable proc-sys-net-writable.service ssh.service
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
fi

docker import "$tarball" "$image-rootfs" >/dev/null
# `docker import` cannot set STOPSIGNAL; a two-line build can (systemd halts cleanly on SIGRTMIN+3).
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL clearstack.recipe=%s\nCMD ["/lib/systemd/systemd"]\n' \
  "$image-rootfs" "$recipe_hash" | docker build -q -t "$image" - >>"$cache_dir/debootstrap.log" 2>&1
docker rmi "$image-rootfs" >/dev/null
# The previous build, now untagged, would otherwise stay behind on every recipe change.
docker image prune -f --filter "label=clearstack.recipe" >/dev/null
echo "built test host image $image ($recipe_hash)"
