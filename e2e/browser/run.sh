#!/usr/bin/env bash
# The browser tests, as CI runs them: install playwright-core, build what is missing, start a
# live `rootlab serve` on a free port with the built frontend, run `node --test`, stop the server.
# Exit status is the tests'. `--budgets` also measures the frontend budgets into docs/frontend.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

(cd e2e && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; } >/dev/null)
# Always: a stale dist would test old code, and an up-to-date build takes seconds.
frontend/build.sh
cargo build -p rootlab --bins
# The images the Images page tests open, in the store the server will use.
bash e2e/browser/images.sh
bash scripts/lesson-images.sh target/debug/rootlab

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
target/debug/rootlab serve --addr "127.0.0.1:$port" --static-dir frontend/dist >"$log" 2>&1 &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

export ROOTLAB_URL="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -fsS "$ROOTLAB_URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "run.sh: the server exited" >&2; exit 1; }
  sleep 0.2
done

status=0
node --test --test-concurrency=1 --test-reporter=spec e2e/browser/ || status=$?
if [ "${1:-}" = "--budgets" ]; then
  node e2e/browser/budgets.mjs || status=$?
fi
[ "$status" = 0 ] || { echo "--- server log ---" >&2; tail -50 "$log" >&2; }
exit "$status"
