#!/usr/bin/env bash
# Build clearstack-test/standins:local, the one image the Molecule scenarios run in place of images
# no registry can give us here: a debootstrap trixie rootfs (python3, Debian's nginx-light) plus
# tests/standins/ (MinIO and ClearML API stand-ins) under /opt/standins, `minio` on the PATH.
# Cached by a hash of the recipe (image label); the rootfs tarball and the image's `docker save`
# bundle are kept under /var/cache. Prints the bundle's path on its last line (for docker_image_bundles).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
standins=$(cd "$here/../standins" && pwd)
image=${CLEARSTACK_STANDIN_IMAGE:-clearstack-test/standins:local}
suite=trixie
packages=python3-minimal,libpython3-stdlib,nginx-light,ca-certificates
cache_dir=/var/cache/clearstack/test-images

recipe_hash=$( { cat "$0"; find "$here/standins" "$standins/minio" "$standins/clearml_api" -type f \
  -not -name '*.pyc' | sort | xargs cat; echo "$suite $packages"; } | sha256sum | cut -c1-16)
bundle="$cache_dir/standins-$recipe_hash.tar"
log="$cache_dir/standins-build.log"
mkdir -p "$cache_dir"

if [ "$(docker image inspect -f '{{ index .Config.Labels "clearstack.recipe" }}' "$image" 2>/dev/null)" != "$recipe_hash" ]; then
  if [ -s "$bundle" ]; then
    docker load -i "$bundle" >/dev/null
  fi
fi
if [ "$(docker image inspect -f '{{ index .Config.Labels "clearstack.recipe" }}' "$image" 2>/dev/null)" != "$recipe_hash" ]; then
  # The machine's own Debian mirror: read at run time, never written into the repo.
  mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -E 'debian/?$|debian[[:space:]]' | grep -v security | head -n1 | awk '{print $2}' || true)
  if [ -z "$mirror" ]; then
    echo "cannot find a Debian mirror in this machine's apt sources" >&2
    exit 1
  fi
  tarball="$cache_dir/standins-rootfs-$recipe_hash.tar"
  if [ ! -s "$tarball" ]; then
    root=$(mktemp -d /var/tmp/clearstack-standins.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "debootstrap $suite from $mirror (about a minute)" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; exit 1; }
    # Small: no apt lists or caches, docs, man pages or locales (nothing here reads them).
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name 'locale.alias' -exec rm -rf {} +
    # Debian's nginx site would listen on :80 next to ours; the load balancer brings its own nginx.conf.
    rm -f "$root"/etc/nginx/sites-enabled/*
    : >"$root/etc/machine-id"
    tar -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  fi
  superseded=$(docker image inspect -f '{{ .Id }}' "$image" 2>/dev/null || true)
  docker import "$tarball" "$image-rootfs" >/dev/null
  context=$(mktemp -d /var/tmp/clearstack-standins-ctx.XXXXXX)
  trap 'rm -rf "$context" "${root:-}"' EXIT
  cp "$here/standins/Dockerfile" "$here/standins/entrypoint.sh" "$context/"
  mkdir -p "$context/standins"
  cp -r "$standins/minio" "$standins/clearml_api" "$context/standins/"
  docker build -q --build-arg BASE="$image-rootfs" --label clearstack.recipe="$recipe_hash" \
    -t "$image" "$context" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
  docker rmi "$image-rootfs" >/dev/null
  if [ -n "$superseded" ] && [ "$superseded" != "$(docker image inspect -f '{{ .Id }}' "$image")" ]; then
    docker rmi "$superseded" >/dev/null 2>&1 || true  # still used by a container: left alone
  fi
  # Superseded recipes: their rootfs tarballs and bundles would only fill the disk.
  find "$cache_dir" -maxdepth 1 -name 'standins-*.tar*' -not -name "*-$recipe_hash.tar" -delete
  echo "built stand-in image $image ($recipe_hash)" >&2
else
  echo "stand-in image $image is current ($recipe_hash)" >&2
fi

if [ ! -s "$bundle" ]; then
  docker save -o "$bundle.tmp" "$image"
  mv "$bundle.tmp" "$bundle"
fi
echo "$bundle"
