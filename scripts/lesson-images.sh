#!/usr/bin/env bash
# Puts the lessons' real images (made by scripts/make-lesson-image.sh) into a rootlab store, once:
#   scripts/lesson-images.sh ROOTLAB [rootlab images args...]   e.g. target/release/rootlab --state-dir D
set -euo pipefail
cd "$(dirname "$0")/.."
rootlab=$1; shift
tar=target/lesson-images/debian-lesson.tar
[ -s "$tar" ] || bash scripts/make-lesson-image.sh "$tar"
if ! "$rootlab" images inspect debian-lesson "$@" >/dev/null 2>&1; then
  # The warnings (setuid bits stripped from su, passwd, ...) are expected for this image.
  out=$("$rootlab" images import "$tar" --name debian-lesson "$@" 2>&1) || { echo "$out" >&2; exit 1; }
  echo "lesson images: debian-lesson imported" >&2
fi
