# shellcheck shell=bash
# Throwaway local PostgreSQL clusters for scripts/demo.sh and benches/*.sh.
# Source this file; it defines functions only. Each cluster lives in its own folder under a
# temporary directory, listens on 127.0.0.1 and a free port, trusts local connections, and
# runs as the `postgres` OS user when we are root (initdb and postgres refuse root).
#
#   cluster_start NAME DIR [extra postgres -c settings...]   -> sets CLUSTER_PORT
#   cluster_stop DIR                                          (safe if not running)
#   pg_url PORT DB                                            -> postgres://postgres@127.0.0.1:PORT/DB

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The server binaries: $PG_BIN, else the newest Debian install.
pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local dir
    # shellcheck disable=SC2012 # version-sorted folder names, no odd characters
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$dir/initdb" ] || die "no PostgreSQL server binaries found (run scripts/setup.sh)"
    echo "$dir"
}

# Runs a command as the unprivileged server user when we are root.
as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A TCP port nobody listens on. There is a small race between this check and the server's
# bind; cluster_start retries with another port if the start fails.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
}

# A temporary directory the server user can write to.
make_temp_dir() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    echo "$dir"
}

# cluster_start NAME DIR [setting=value ...]: initdb DIR/data and start it; sets CLUSTER_PORT.
cluster_start() {
    local name=$1 dir=$2; shift 2
    local bin settings=() s attempt
    bin=$(pg_bin)
    for s in "$@"; do settings+=(-c "$s"); done
    log "$name: initdb in $dir/data ($("$bin/postgres" --version))"
    as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "$name: initdb failed"; }
    for attempt in 1 2 3 4 5; do
        CLUSTER_PORT=$(free_port)
        # Options are passed on the postgres command line (-o) so postgresql.conf stays pristine.
        if as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $CLUSTER_PORT -k $dir -c listen_addresses=127.0.0.1 ${settings[*]}" \
            start >/dev/null 2>&1; then
            log "$name: listening on 127.0.0.1:$CLUSTER_PORT"
            return 0
        fi
        log "$name: start on port $CLUSTER_PORT failed (attempt $attempt), retrying"
    done
    tail -20 "$dir/server.log" >&2 || true
    die "$name: could not start the server"
}

# cluster_stop DIR: stops the server in DIR/data if it runs. Never fails.
cluster_stop() {
    local dir=$1 bin
    bin=$(pg_bin) || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            as_server_user "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
}

pg_url() { echo "postgres://postgres@127.0.0.1:$1/$2"; }

# Builds pgsplit in release mode and prints the binary's path (honours CARGO_TARGET_DIR).
# PGSPLIT_BIN=/path/to/pgsplit skips the build, e.g. to run a binary built elsewhere.
build_pgsplit() {
    if [ -n "${PGSPLIT_BIN:-}" ]; then
        [ -x "$PGSPLIT_BIN" ] || die "PGSPLIT_BIN=$PGSPLIT_BIN is not an executable"
        log "using PGSPLIT_BIN=$PGSPLIT_BIN (no build)"
        echo "$PGSPLIT_BIN"
        return
    fi
    log "building pgsplit (cargo build --release -p pgsplit)"
    (cd "$REPO_ROOT" && cargo build --release -p pgsplit) >&2 || die "cargo build failed"
    local dir=${CARGO_TARGET_DIR:-target}
    case $dir in /*) ;; *) dir="$REPO_ROOT/$dir" ;; esac
    [ -x "$dir/release/pgsplit" ] || die "no binary at $dir/release/pgsplit"
    echo "$dir/release/pgsplit"
}

# Stops the source and target clusters under $WORK and removes it when the script ends,
# however it ends (error, Ctrl-C). $1 names the servers in the log line.
WORK=""
stop_clusters_on_exit() {
    CLUSTERS_NAME=$1
    trap stop_clusters EXIT
    trap 'exit 130' INT TERM
}
# stop_clusters [STATUS]: the EXIT trap; exits with STATUS (default: the status the trap
# was entered with).
stop_clusters() {
    local status=${1:-$?}
    if [ -n "$WORK" ]; then
        # `|| true` throughout: on a full disk even the log line fails, and under `set -e`
        # that would end the trap with the servers and their data left behind.
        log "stopping the $CLUSTERS_NAME servers, removing $WORK" || true
        cluster_stop "$WORK/source" || true
        cluster_stop "$WORK/target" || true
        rm -rf "$WORK" || true
    fi
    exit "$status"
}
