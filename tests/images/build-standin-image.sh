#!/usr/bin/env bash
# Build clearstack-test/standins:local, the one image the Molecule scenarios run in place of images
# no registry can give us here: a debootstrap trixie rootfs (python3, Debian's nginx-light, redis-server,
# curl) plus tests/standins/ (MinIO, ClearML API and clearml-server stack stand-ins) under /opt/standins,
# `minio`, `mongod` and `mongosh` on the PATH. The same layers are also tagged
# clearstack-test/{clearml-server,elasticsearch,mongo,redis}-standin:local, each with its own
# CLEARSTACK_STANDIN for entrypoint.sh (see tests/images/standins/Dockerfile).
# Cached by a hash of the recipe (image label); the rootfs tarball and one `docker save` bundle of all
# the tags are kept under /var/cache. Prints the bundle's path on its last line (for docker_image_bundles).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
standins=$(cd "$here/../standins" && pwd)
image=${CLEARSTACK_STANDIN_IMAGE:-clearstack-test/standins:local}
suite=trixie
packages=python3-minimal,libpython3-stdlib,nginx-light,ca-certificates,curl,redis-server,redis-tools
cache_dir=/var/cache/clearstack/test-images
parts="minio clearml_api clearml_services"  # folders of tests/standins copied into the image
# Dockerfile stage -> tag: the base stage is $image, every other stage one more tag of the same layers.
roles="clearml-server elasticsearch mongo redis"
role_tag() { echo "${image%/*}/$1-standin:${image##*:}"; }
tags="$image"
for role in $roles; do tags="$tags $(role_tag "$role")"; done

# Every input: this script, the Dockerfile and entrypoint, the copied folders: contents, relative
# names and executable bits (not absolute paths: a fresh clone elsewhere reuses the cache).
inputs() {  # DIR SUBDIR...
  (cd "$1" && shift && find "$@" -type f -not -name '*.pyc' | LC_ALL=C sort | while read -r f; do
    [ -x "$f" ] && echo "$f x" || echo "$f"; cat "$f"; done)
}
# shellcheck disable=SC2086 # $parts is a list of words
recipe_hash=$( { cat "$0"; echo "$suite $packages $parts $roles $tags"; inputs "$here" standins
  inputs "$standins" $parts; } | sha256sum | cut -c1-16)
bundle="$cache_dir/standins-$recipe_hash.tar"
log="$cache_dir/standins-build.log"
mkdir -p "$cache_dir"

current() {  # every tag is there and carries this recipe's label
  for tag in $tags; do
    [ "$(docker image inspect -f '{{ index .Config.Labels "clearstack.recipe" }}' "$tag" 2>/dev/null)" = "$recipe_hash" ] \
      || return 1
  done
}
if ! current && [ -s "$bundle" ]; then
  docker load -i "$bundle" >/dev/null
fi
if ! current; then
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
  # Derived tags first: an image with children cannot be removed.
  superseded=$(for tag in $tags; do docker image inspect -f '{{ .Id }}' "$tag" 2>/dev/null || true; done | tac)
  docker import "$tarball" "$image-rootfs" >/dev/null
  context=$(mktemp -d /var/tmp/clearstack-standins-ctx.XXXXXX)
  trap 'rm -rf "$context" "${root:-}"' EXIT
  cp "$here/standins/Dockerfile" "$here/standins/entrypoint.sh" "$context/"
  mkdir -p "$context/standins"
  for part in $parts; do cp -r "$standins/$part" "$context/standins/"; done
  # The later builds reuse the first one's layers from the build cache.
  for stage in standins $roles; do
    tag=$image
    [ "$stage" = standins ] || tag=$(role_tag "$stage")
    docker build -q --build-arg BASE="$image-rootfs" --label clearstack.recipe="$recipe_hash" \
      --target "$stage" -t "$tag" "$context" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
  done
  docker rmi "$image-rootfs" >/dev/null
  fresh=$(for tag in $tags; do docker image inspect -f '{{ .Id }}' "$tag"; done)
  for id in $superseded; do
    if ! echo "$fresh" | grep -qx "$id"; then
      docker rmi "$id" >/dev/null 2>&1 || true  # still used by a container: left alone
    fi
  done
  # Superseded recipes: their rootfs tarballs and bundles would only fill the disk.
  find "$cache_dir" -maxdepth 1 -name 'standins-*.tar*' -not -name "*-$recipe_hash.tar" -delete
  echo "built stand-in images $tags ($recipe_hash)" >&2
else
  echo "stand-in images $tags are current ($recipe_hash)" >&2
fi

if [ ! -s "$bundle" ]; then
  # One bundle of all the tags: docker save stores their shared layers once.
  # shellcheck disable=SC2086 # $tags is a list of words
  docker save -o "$bundle.tmp" $tags
  mv "$bundle.tmp" "$bundle"
fi
echo "$bundle"
