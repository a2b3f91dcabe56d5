#!/usr/bin/env bash
# Builds the bench for wasm32 (the browser app's size settings) and runs it in Node.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --target wasm32-unknown-unknown --quiet
node run.mjs "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/layerview_wasm_bench.wasm"
