#!/usr/bin/env bash
# The live-API suite CI runs: builds rootlab, installs the Python deps and clients/python into a
# venv, starts `rootlab serve` on a free port, runs the live tests (pytest), schemathesis fuzzing
# and the example notebook against it, and the Python client's tests (against a server of their
# own), stops the server, and exits non-zero if anything failed.
#
# Env: ROOTLAB_BIN (use this binary instead of building), ROOTLAB_VENV (venv dir),
#      ROOTLAB_CARGO_PROFILE (dev|release, default dev).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${ROOTLAB_VENV:-$here/.venv}"
out="$here/out"
mkdir -p "$out"

if [[ -z "${ROOTLAB_BIN:-}" ]]; then
    profile="${ROOTLAB_CARGO_PROFILE:-dev}"
    (cd "$repo" && cargo build -p rootlab --profile "$profile")
    dir=$([[ "$profile" == dev ]] && echo debug || echo "$profile")
    export ROOTLAB_BIN="$repo/target/$dir/rootlab"
fi

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
# The Python client (the notebook imports it), with its test tools.
"$venv/bin/pip" install -q "$repo/clients/python[test]"

# The lessons' real images in the server's store (lesson 7 runs on one).
bash "$repo/scripts/lesson-images.sh" "$ROOTLAB_BIN"

# Start the server on a free port; it prints "rootlab listening on http://ADDR" when ready.
log="$out/server.log"
"$ROOTLAB_BIN" serve --addr 127.0.0.1:0 --rate-limit 0 --workers 2 >"$out/server.out" 2>"$log" &
server_pid=$!
stop_server() {
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || echo "server exited with status $?" >&2
    fi
}
trap stop_server EXIT
for _ in $(seq 1 300); do
    grep -q "listening on" "$out/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "server died at start" >&2; exit 1; }
    sleep 0.1
done
url="$(grep -o 'http://[^ ]*' "$out/server.out")"
echo "rootlab serve at $url (pid $server_pid)"
export ROOTLAB_URL="$url" ROOTLAB_PID="$server_pid"

status=0
echo "== live tests"
(cd "$here" && "$venv/bin/pytest" -q -p no:cacheprovider test_live.py test_ops.py test_security.py test_images.py) || status=1

echo "== schemathesis"
# One worker: with several, hypothesis (under CPython 3.11) sometimes crashes in its own AST code.
(cd "$here" && "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run \
    "$url/api/v1/openapi.json" --workers 1 --report junit --report-dir "$out") || status=1

echo "== python client (clients/python: its tests start their own server; mypy --strict)"
(cd "$repo/clients/python" && env -u ROOTLAB_URL -u ROOTLAB_PID ROOTLAB_BIN="$ROOTLAB_BIN" \
    "$venv/bin/pytest" -q -p no:cacheprovider tests && "$venv/bin/mypy") || status=1

echo "== notebook"
"$venv/bin/python" "$here/run_notebook.py" "$repo/examples/rootlab.ipynb" "$out/rootlab.executed.ipynb" || status=1

stop_server
trap - EXIT
if [[ $status -ne 0 ]]; then
    echo "e2e/api: FAILED (server log: $log)" >&2
fi
exit $status
