#!/usr/bin/env bash
# Builds rootlab's image with podman and runs a lesson through it, the way docker/README.md says to
# run it: rootless as tight as deploy/k8s runs it (the app, the presets, a real run, /healthz,
# /livez, /readyz, the image's HEALTHCHECK, a clean stop), then in root mode, then compose.yaml
# through podman-compose. Runnable as root on a fresh Debian 12 machine that reaches only Debian's
# packages and crates.io: it installs podman (with runc), podman-compose and debootstrap, makes the
# base images that no registry can give it (debian:bookworm-slim by debootstrap; rust:1.95-bookworm
# from it plus this machine's Rust toolchain), and builds with this machine's CA certificates
# mounted so that cargo reaches crates.io through the same network. Exits 0 with a SKIP line when
# podman cannot start a container here (or without root).
#
# Env: ROOTLAB_IMAGE_WORK (podman config and base image rootfs, default /var/tmp/rootlab-image),
#      ROOTLAB_IMAGE (tag to build, default localhost/rootlab:test).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${ROOTLAB_IMAGE_WORK:-/var/tmp/rootlab-image}"
image="${ROOTLAB_IMAGE:-localhost/rootlab:test}"
debian_image=docker.io/library/debian:bookworm-slim
rust_image=docker.io/library/rust:1.95-bookworm
name="rootlab-image-test-$$"
mkdir -p "$work"

say() { echo "test-image: $*" >&2; }
skip() { echo "SKIP test-image: $*"; exit 0; }
elapsed() { echo $(($(date +%s) - $1)); }

[[ "$(id -u)" -eq 0 ]] || skip "needs root (podman as root; rootless podman would need /etc/subuid set up by hand)"

need=()
for pkg in podman podman-compose runc debootstrap uidmap busybox-static curl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [[ ${#need[@]} -gt 0 ]]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# podman's own settings, kept out of /etc: runc, because crun refuses this kind of machine's hybrid
# cgroup v1/v2 layout; container ulimits no higher than the machine's hard limits, because podman's
# defaults (nofile 1048576, nproc 4194304) fail with EPERM where those are lower. nproc is capped at
# 32768: here runc is refused any value above about 60000 although the shell's hard limit is 96363.
nproc=$(ulimit -Hu)
[[ "$nproc" == unlimited || "$nproc" -gt 32768 ]] && nproc=32768
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"

# --userns=auto (the run below, like Kubernetes' hostUsers: false) takes its ids from the
# "containers" ranges of /etc/subuid and /etc/subgid.
for f in /etc/subuid /etc/subgid; do
    grep -q '^containers:' "$f" 2>/dev/null || echo "containers:2147483647:2147483648" >>"$f"
done

# Can podman start a container at all? A one-file image from busybox-static answers in a second.
if ! podman image exists localhost/rootlab-probe; then
    probe="$(mktemp -d)"
    mkdir -p "$probe/bin"
    cp /bin/busybox "$probe/bin/busybox"
    tar -C "$probe" -c . | podman import -q - localhost/rootlab-probe >/dev/null
    rm -rf "$probe"
fi
if ! out="$(podman run --rm --userns=auto localhost/rootlab-probe /bin/busybox true 2>&1)"; then
    skip "podman cannot start containers here: $out"
fi

# Base images. debian:bookworm-slim: a minbase debootstrap, the same release and packages.
if ! podman image exists "$debian_image"; then
    say "making $debian_image with debootstrap"
    rootfs="$work/debian-rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
    # The official image's sources: the release, its updates and security.
    rm -f "$rootfs/etc/apt/sources.list"
    printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: bookworm bookworm-updates" \
        "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "" \
        "Types: deb" "URIs: http://deb.debian.org/debian-security" "Suites: bookworm-security" \
        "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
        >"$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" --numeric-owner -c . | podman import -q -c 'CMD ["bash"]' - "$debian_image" >/dev/null
    rm -rf "$rootfs"
fi
# rust:1.95-bookworm: the official image's layout (RUSTUP_HOME=/usr/local/rustup,
# CARGO_HOME=/usr/local/cargo) with this machine's 1.95 toolchain, which already holds the wasm32
# target (static.rust-lang.org is not reachable here, so `rustup target add` must find it present).
if ! podman image exists "$rust_image"; then
    toolchain="$(rustc --print sysroot)"
    [[ "$(rustc --version)" == "rustc 1.95."* ]] || { say "need rustc 1.95 on PATH, found $(rustc --version)"; exit 1; }
    [[ -d "$toolchain/lib/rustlib/wasm32-unknown-unknown" ]] || rustup target add wasm32-unknown-unknown
    say "making $rust_image from $debian_image and $toolchain"
    ctx="$work/rust-context"
    rm -rf "$ctx"
    mkdir -p "$ctx/rustup/toolchains" "$ctx/cargo/bin"
    cp -a "$toolchain" "$ctx/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu"
    rm -rf "$ctx/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/share/doc"
    printf 'version = "12"\ndefault_toolchain = "1.95.0-x86_64-unknown-linux-gnu"\nprofile = "minimal"\n' \
        >"$ctx/rustup/settings.toml"
    cp "$(command -v rustup)" "$ctx/cargo/bin/rustup"
    for tool in cargo rustc rustdoc cargo-fmt rustfmt cargo-clippy clippy-driver; do
        ln -s rustup "$ctx/cargo/bin/$tool"
    done
    cat >"$ctx/Containerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates gcc libc6-dev make pkg-config git \
 && rm -rf /var/lib/apt/lists/*
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
EOF
    podman build -q -t "$rust_image" "$ctx" >/dev/null
    rm -rf "$ctx"
fi

say "building $image"
start=$(date +%s)
# --format docker keeps the HEALTHCHECK (the OCI format has no field for it); the host's CA bundle
# is mounted for the build steps only, so cargo can fetch crates through this network's proxy.
podman build --format docker \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -f "$repo/docker/Dockerfile" -t "$image" "$repo" >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; say "build failed (log: $work/build.log)"; exit 1; }
build_s=$(elapsed "$start")
size=$(podman image inspect --format '{{.Size}}' "$image")
say "built in ${build_s}s, image $((size / 1000 / 1000)) MB"
[[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$image")" ]] \
    || { say "the image has no HEALTHCHECK"; exit 1; }
[[ "$(podman image inspect --format '{{.Config.User}}' "$image")" != "" ]] \
    || { say "the image has no USER"; exit 1; }

fails=0
check() {  # check NAME COMMAND...: run it, print ok/FAIL
    if out="$("${@:2}" 2>&1)"; then echo "ok   $1"; else echo "FAIL $1: $out"; fails=$((fails + 1)); fi
}
containers=()
cleanup() { for c in "${containers[@]}"; do podman rm -f -v -t 5 "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

serve() {  # serve NAME PODMAN-RUN-OPTIONS...: start the image, wait until it answers, set $url
    # (Without systemd podman cannot schedule the HEALTHCHECK and says so: not an error here, where
    # the check is run by hand; anything else podman says is shown if it fails.)
    podman run -d --name "$1" -p 127.0.0.1::7878 \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined "${@:2}" "$image" >/dev/null 2>"$work/run.err" \
        || { cat "$work/run.err" >&2; say "podman run $1 failed"; exit 1; }
    containers+=("$1")
    url="http://127.0.0.1:$(podman port "$1" 7878/tcp | head -1 | sed 's/.*://')"
    local start
    start=$(date +%s)
    for _ in $(seq 1 300); do
        curl -fsS "$url/healthz" >/dev/null 2>&1 && break
        [[ "$(podman inspect --format '{{.State.Running}}' "$1")" == true ]] \
            || { podman logs "$1" >&2; say "$1 stopped"; exit 1; }
        sleep 0.2
    done
    say "$1 at $url, serving after $(elapsed "$start")s"
}
app() {
    local page wasm
    page="$(curl -fsS "$url/")"
    grep -q '<title>' <<<"$page" || { echo "no page"; return 1; }
    wasm="$(grep -o '[^"/]*_bg\.wasm' <<<"$page" | head -1)"
    [[ -n "$wasm" ]] || { echo "the page names no wasm"; return 1; }
    curl -fsS -o /dev/null "$url/$wasm"
}
presets() {
    curl -fsS "$url/api/v1/presets" | python3 -c \
        'import json,sys; ids=[p["id"] for p in json.load(sys.stdin)]; assert "seed-tmpfs" in ids, ids; print(len(ids))'
}
lesson() {  # lesson 2 as the app runs it: the tmpfs shows in the container, not on the host
    curl -fsS -X POST "$url/api/v1/presets/seed-tmpfs/run" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "completed", (r["status"], r.get("message"))
after = next(s for s in r["snapshots"] if s["label"] == "container after mount")
tmp = {v["actor"]: [m for m in v["mounts"] if m["target"] == "/tmp" and m["fstype"] == "tmpfs"] for v in after["views"]}
assert tmp["c1"] and not tmp["host"], tmp
print(r["duration_us"], "us")'
}
answers() {  # answers CODE PATH: within 30 s (readiness waits for the sandbox self-test)
    local code
    for _ in $(seq 1 30); do
        code="$(curl -s -o /dev/null -w '%{http_code}' "$url$2")"
        [[ "$code" == "$1" ]] && return 0
        sleep 1
    done
    echo "$2 answers $code, not $1"
    return 1
}

# The run docker/README.md gives, as tight as deploy/k8s runs it: rootless (the image's USER), its
# own user namespace (as hostUsers: false), no capability, no_new_privs, read-only, with the limits
# compose.yaml sets; the state dir is the image's VOLUME (an anonymous volume, removed with it).
serve "$name" --userns=auto --cap-drop ALL --security-opt no-new-privileges \
    --read-only --tmpfs /tmp --memory 1g --pids-limit 512
check "the app (index.html and its wasm)" app
check "presets" presets
check "a run: lesson 2 (seed-tmpfs)" lesson
check "/healthz 200" answers 200 /healthz
check "/livez 200" answers 200 /livez
check "/readyz 200" answers 200 /readyz
check "HEALTHCHECK (podman healthcheck run)" podman healthcheck run "$name"
start=$(date +%s)
check "stops on SIGTERM with status 0" bash -c \
    "podman stop -t 20 '$name' >/dev/null && [[ \$(podman inspect --format '{{.State.ExitCode}}' '$name') == 0 ]]"
stop_s=$(elapsed "$start")

# The root mode docker/README.md describes: --user 0, the runtime's default capabilities, and a
# user namespace large enough to map the sandbox uid 65534.
serve "$name-root" --user 0 --userns=auto:size=65536 --read-only --tmpfs /tmp --memory 1g --pids-limit 512
check "root mode: a run: lesson 2 (seed-tmpfs)" lesson

# compose.yaml as written, through podman-compose, on a free loopback port.
compose_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
compose() {
    ROOTLAB_IMAGE="$image" ROOTLAB_PORT="$compose_port" \
        podman-compose -p "$name-compose" -f "$repo/docker/compose.yaml" "$@" >>"$work/compose.log" 2>&1
}
if compose up -d --no-build; then
    url="http://127.0.0.1:$compose_port"
    for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
    check "compose.yaml (podman-compose): a run: lesson 2 (seed-tmpfs)" lesson
    check "compose.yaml: published on 127.0.0.1 only" bash -c \
        "podman port '${name}-compose_rootlab_1' 7878/tcp | grep -qx '127.0.0.1:$compose_port'"
else
    echo "FAIL compose.yaml: podman-compose up failed (log: $work/compose.log)"
    fails=$((fails + 1))
fi
compose down -v || true
podman network rm "$name-compose_default" >/dev/null 2>&1 || true  # podman-compose 1.0.3 leaves it

echo "figures: build ${build_s}s, image $((size / 1000 / 1000)) MB, stop ${stop_s}s"
if [[ $fails -ne 0 ]]; then
    for c in "${containers[@]}"; do echo "--- logs of $c" >&2; podman logs "$c" 2>&1 | tail -15 >&2; done
    echo "test-image: $fails check(s) failed" >&2
    exit 1
fi
echo "test-image: all checks passed"
