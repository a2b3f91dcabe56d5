#!/usr/bin/env bash
# Makes lesson 7's real image offline, from Debian packages: an OCI image layout tar of three
# layers, each the work of one build step, as a Dockerfile would make them:
#   1. debootstrap --variant=minbase bookworm   (the base)
#   2. dpkg -i tree.deb                          (a layer that adds a package's files)
#   3. rm /etc/debian_version; rm -rf /usr/share/doc/tree; mkdir /usr/share/doc/tree
#                                                (a whiteout, and a directory deleted then re-made)
# umoci computes each layer from the difference of two trees, so the whiteouts are the real tool's.
#
# Usage: scripts/make-lesson-image.sh [OUT.tar]   (default target/lesson-images/debian-lesson.tar)
# Skips the work when OUT exists. Needs root (debootstrap, chroot), debootstrap, umoci and a Debian
# mirror (apt's own, for debootstrap and `apt-get download`; no other network).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/lesson-images/debian-lesson.tar}
[ -s "$out" ] && { echo "lesson image: $out is there" >&2; exit 0; }
for tool in debootstrap umoci; do
  command -v "$tool" >/dev/null || { echo "lesson image: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/rootlab-lesson-image.XXXXXX)
trap 'umount -R "$work/rootfs" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "lesson image: debootstrap --variant=minbase bookworm from $mirror (a few minutes)" >&2
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# Device nodes are not image content (a runtime makes /dev); apt's caches are not either.
find "$work/rootfs/dev" -mindepth 1 -delete
rm -rf "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*_* 2>/dev/null || true

layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:debian-lesson"
step() { # step "created_by" command...: unpack, change the rootfs, repack as one layer
  local created_by=$1; shift
  rm -rf "$work/bundle"
  umoci unpack --image "$layout:debian-lesson" "$work/bundle" >/dev/null
  "$@" "$work/bundle/rootfs"
  umoci repack --image "$layout:debian-lesson" --history.created_by "$created_by" "$work/bundle"
}
base() { cp -a "$work/rootfs/." "$1/"; }
install_tree() {
  local deb
  # apt's package lists may be empty on a fresh machine: update once if the download fails.
  deb=$(cd "$work" && { apt-get download tree >/dev/null 2>&1 \
          || { apt-get update -qq >/dev/null 2>&1 && apt-get download tree >/dev/null 2>&1; }; } \
        && ls tree_*.deb) \
    || { echo "lesson image: apt-get download tree failed" >&2; exit 1; }
  cp "$work/$deb" "$1/tmp/tree.deb"
  mount --rbind /dev "$1/dev"
  chroot "$1" sh -c 'set -e; dpkg -i /tmp/tree.deb >/dev/null; rm /tmp/tree.deb' \
    || { umount -R "$1/dev"; exit 1; }
  umount -R "$1/dev"
}
delete_some() {
  rm "$1/etc/debian_version"
  rm -rf "$1/usr/share/doc/tree"
  mkdir "$1/usr/share/doc/tree"
  echo "docs removed to slim the image" >"$1/usr/share/doc/tree/README"
}
step "/bin/sh -c debootstrap --variant=minbase bookworm /" base
step "/bin/sh -c dpkg -i /tmp/tree.deb && rm /tmp/tree.deb  # tree.deb: apt-get download tree" install_tree
step "/bin/sh -c rm /etc/debian_version && rm -rf /usr/share/doc/tree && mkdir /usr/share/doc/tree" delete_some
umoci config --image "$layout:debian-lesson" --config.cmd /bin/bash --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umoci gc --layout "$layout"

mkdir -p "$(dirname "$out")"
tar -C "$layout" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "lesson image: $out ($(du -h "$out" | cut -f1))" >&2
