#!/usr/bin/env bash
# Installs what pgsplit's build, tests, demo and benchmark need, and nothing that is
# already there: PostgreSQL server and client (Debian packages), Node.js/npm (for other
# PostgreSQL major versions from the npm registry), a Rust toolchain check.
# Idempotent; safe to run again. Usage: scripts/setup.sh [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root (or sudo) to run: $*" >&2; exit 1; fi
}

apt_updated=no
apt_install() {
    if [ "$apt_updated" = no ]; then
        sudo_if_needed apt-get update -qq
        apt_updated=yes
    fi
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_server() {
    [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ] && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

missing=()
have_server || missing+=(postgresql postgresql-contrib)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
command -v npm >/dev/null || missing+=(npm)
command -v node >/dev/null || missing+=(nodejs)
if [ "${1:-}" = "--bench" ]; then
    command -v pgcopydb >/dev/null || missing+=(pgcopydb)
    command -v pgbench >/dev/null || missing+=(postgresql-contrib)
    [ -x /usr/bin/time ] || missing+=(time)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
fi
# Debian's postgresql package may start a cluster of its own; pgsplit's tests and demo
# start their own servers on free ports and do not need it.

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi
