#!/usr/bin/env bash
# Installs everything rootlab needs on a fresh Debian 12 machine (idempotent: skips what is there).
# Called by scripts/start.sh and scripts/test.sh; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in busybox-static bubblewrap hyperfine chromium chromium-driver jq util-linux libseccomp-dev gcc libc6-dev \
           debootstrap umoci skopeo docker-registry; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Lesson 7's real image (a Debian made here from Debian packages, in three layers): an OCI tar
# that the servers and tests import (scripts/lesson-images.sh). Skipped once made.
bash scripts/make-lesson-image.sh

# The browser app: wasm target, trunk and wasm-bindgen-cli (frontend/build.sh installs the pinned versions).
bash frontend/build.sh
