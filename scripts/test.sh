#!/usr/bin/env bash
# Runs the whole test suite, with the third-party validators that check the generated
# files (Helm SDK, kubernetes-validate, checkov, ...). Installs them first (idempotent).
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
if [ "${SKIP_VALIDATOR_INSTALL:-0}" != "1" ]; then
  scripts/install-validators.sh
fi
export PATH="$VALIDATORS_VENV/bin:$PATH"
exec cargo test --locked "$@"
