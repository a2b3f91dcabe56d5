#!/usr/bin/env bash
# Runs rootlab's whole test suite on this machine: unit and real-kernel tests (cargo), the live HTTP API
# tests (with schemathesis, the Python client and the notebook), the browser tests in headless
# Chromium, and the deployment files' checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt / clippy" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p rootlab-shared -p rootlab-frontend --target wasm32-unknown-unknown -- -D warnings

echo "== cargo test (unit, real-kernel engine, server)" >&2
cargo test --workspace

echo "== live HTTP API (e2e/api)" >&2
bash e2e/api/run.sh

echo "== browser (e2e/browser)" >&2
bash e2e/browser/run.sh

echo "== deployment files (deploy/check.sh: kustomize, kubernetes-validate, yamllint; own venv)" >&2
bash deploy/check.sh
