#!/usr/bin/env bash
# The images the browser tests open, imported into the store of the server run.sh starts (its
# default state dir): the 3-layer umoci image behind the layer view's fixtures
# (frontend/tests/fixtures/make_image.sh) as library/busybox-demo:v1, and a 10,100-entry image
# (100 directories of 100 files, then a layer deleting one directory) as big:10k.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rootlab="$root/target/debug/rootlab"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bash "$root/frontend/tests/fixtures/make_image.sh" "$work/demo" --image-only >/dev/null
"$rootlab" images import "$work/demo/oci" --name library/busybox-demo:v1 >/dev/null

cd "$work"
umoci init --layout big >/dev/null
umoci new --image big:10k >/dev/null
python3 - <<'PY'
import io, tarfile
def layer(name, members):
    with tarfile.open(name, "w", format=tarfile.PAX_FORMAT) as t:
        for path, data in members:
            info = tarfile.TarInfo(path)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
files = []
for d in range(100):
    files.append((f"d{d:02}", None))
    files += [(f"d{d:02}/f{f:03}", b"x" * 1000) for f in range(100)]
layer("l0.tar", files)
layer("l1.tar", [(".wh.d99", b"")])
PY
umoci raw add-layer --image big:10k --history.created_by 'COPY . /' l0.tar
umoci raw add-layer --image big:10k --history.created_by 'RUN rm -rf /d99' l1.tar
"$rootlab" images import big --name big:10k >/dev/null
