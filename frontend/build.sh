#!/usr/bin/env bash
# Builds the browser playground into frontend/dist, installing what is missing first:
# the wasm32 target, trunk 0.21.14 and the wasm-bindgen CLI at the version Cargo.lock pins.
# Works offline once those are installed (trunk runs with --offline; no wasm-opt), and writes a
# .br and a .gz beside each file of the app.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION=0.21.14
bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")"
[ -n "$bindgen_version" ] || { echo "build.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  # Not --locked: the CLI's own lock pins a webpki-roots release missing from some mirrors.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# Trunk.toml must name the same wasm-bindgen as Cargo.lock, or trunk would try to download one.
grep -q "wasm_bindgen = \"$bindgen_version\"" "$here/Trunk.toml" || {
  echo "build.sh: frontend/Trunk.toml [tools] wasm_bindgen differs from Cargo.lock ($bindgen_version)" >&2
  exit 1
}

cd "$here"
# Strip the wasm's name section (about 290 KB of symbol names, a third of the module): wasm-opt,
# which would drop it, is left out. Set here so the workspace's release-wasm profile stays as is.
export CARGO_PROFILE_RELEASE_WASM_STRIP=symbols
trunk build --release --offline "$@"
wasm="$(ls dist/*_bg.wasm)"

# Precompressed copies beside each file (name.br, name.gz), for a server that serves them by
# Accept-Encoding instead of compressing on every request. Brotli from Debian's `brotli`, else
# Node's zlib (the browser tests' Node), else gzip alone.
brotli_file() {
  if command -v brotli >/dev/null; then
    brotli -q 11 -f -k -o "$1.br" "$1"
  elif command -v node >/dev/null; then
    node -e 'const z = require("zlib"), fs = require("fs"); const f = process.argv[1];
      fs.writeFileSync(f + ".br", z.brotliCompressSync(fs.readFileSync(f), { params: {
        [z.constants.BROTLI_PARAM_QUALITY]: 11, [z.constants.BROTLI_PARAM_SIZE_HINT]: fs.statSync(f).size } }));' "$1"
  fi
}
for f in dist/*.wasm dist/*.js dist/*.css dist/*.html; do
  [ -f "$f" ] || continue
  gzip -9 -n -k -f "$f"
  brotli_file "$f"
done
sum() { cat "$@" 2>/dev/null | wc -c; }
echo "built $here/dist: $(wc -c < "$wasm") bytes wasm, $(wc -c < "$wasm.gz") gzipped, $(sum "$wasm.br") brotli;" \
  "whole app $(sum dist/*.gz) bytes gzipped, $(sum dist/*.br) brotli"
