#!/usr/bin/env bash
# Installs moto's server (a local emulation of RDS, KMS and EC2) for pgsplit-rds's
# end-to-end tests into $REPO/.venv-moto, unless it is already there. Idempotent.
# Prints the path of moto_server.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-moto"
server="$venv/bin/moto_server"

if [ ! -x "$server" ]; then
    echo "installing moto[server] into $venv (about 25 s)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi
"$server" --help >/dev/null
echo "$server"
