#!/usr/bin/env bash
# Builds rootlab (server, worker, browser app) and starts the playground on http://127.0.0.1:7878
# (override with ROOTLAB_ADDR). Extra arguments go to `rootlab serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p rootlab
bash scripts/lesson-images.sh target/release/rootlab
exec target/release/rootlab serve --static-dir frontend/dist "$@"
