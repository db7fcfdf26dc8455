#!/usr/bin/env bash
# Runs the whole test suite, with the third-party validators that check the generated
# files (a real kube-apiserver, promtool 3, amtool, Helm 4, Sloth, kubeconform, kubernetes-validate,
# checkov, ...; docs/validation.md). Installs them first (idempotent).
#
#   scripts/test.sh            install validators if needed, then cargo test
#   NESTIOC_REQUIRE_VALIDATORS=1 scripts/test.sh
#                              a missing validator fails the suite (CI sets this)
#   SKIP_VALIDATOR_INSTALL=1   use what is already installed (plain `cargo test` also works:
#                              conformance checks whose tool is missing are reported as skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
export VALIDATORS_VENV="${VALIDATORS_VENV:-$PWD/.venv-validators}"
export VALIDATORS_NODE_DIR="${VALIDATORS_NODE_DIR:-$PWD/.node-validators}"
export GO_VALIDATORS="${GO_VALIDATORS:-$PWD/.go-validators}"
if [ "${SKIP_VALIDATOR_INSTALL:-0}" != "1" ]; then
  scripts/install-validators.sh
fi
# The Go-built consumers first: promtool 3, not an older one the machine may have.
export PATH="$GO_VALIDATORS/bin:$VALIDATORS_VENV/bin:$PATH"
# The builds the tests run keep their stat caches (docs/security.md) in target/, not in the
# user's cache directory.
if [ -z "${NESTIOC_CACHE_DIR+set}" ]; then
    # The tests' output directories are temporary: the caches and spare trees of earlier
    # runs describe directories that are gone.
    rm -rf "$PWD/target/nestioc-cache"
    export NESTIOC_CACHE_DIR="$PWD/target/nestioc-cache"
fi
exec cargo test --locked "$@"
