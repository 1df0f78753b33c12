#!/usr/bin/env bash
# The main job on a local default: copy a multi-schema "monolith" from one PostgreSQL
# server to another with `pgsplit run`, then show that every row arrived.
#
# On a fresh machine it installs PostgreSQL (scripts/setup.sh), builds pgsplit in release
# mode, starts two throwaway clusters (source and target) on free ports in a temporary
# folder, loads scripts/demo/monolith.sql into the source, runs pgsplit, prints row counts
# of both sides, and stops and removes everything it started, even when a step fails.
# PGSPLIT_BIN=/path/to/pgsplit skips the build and runs that binary.
# Exit status: pgsplit's own (0 ok, 1 failure, 3 verification mismatch), or 1 on a setup error.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/demo/cluster.sh
. scripts/demo/cluster.sh

stop_clusters_on_exit demo

log "checking prerequisites (scripts/setup.sh)"
scripts/setup.sh

PGSPLIT=$(build_pgsplit)

WORK=$(make_temp_dir pgsplit-demo)
mkdir -p "$WORK/source" "$WORK/target"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK/source" "$WORK/target"; fi

cluster_start source "$WORK/source"
SOURCE_PORT=$CLUSTER_PORT
cluster_start target "$WORK/target"
TARGET_PORT=$CLUSTER_PORT

SOURCE_URL=$(pg_url "$SOURCE_PORT" monolith)
TARGET_URL=$(pg_url "$TARGET_PORT" monolith)
src_psql() { psql "$SOURCE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }
dst_psql() { psql "$TARGET_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }

log "loading the monolith into the source (scripts/demo/monolith.sql)"
psql "$(pg_url "$SOURCE_PORT" postgres)" -X -q -c 'CREATE DATABASE monolith'
start=$(date +%s)
src_psql -f scripts/demo/monolith.sql >/dev/null
log "source loaded in $(($(date +%s) - start)) s: $(src_psql -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"

# The target database does not exist yet: pgsplit creates it.
cat >"$WORK/mapping.txt" <<EOF
# the demo monolith moves to the second server
$SOURCE_URL@@$TARGET_URL
EOF
log "mapping file $WORK/mapping.txt:"
sed 's/^/    /' "$WORK/mapping.txt" >&2

echo
echo "\$ pgsplit run mapping.txt --jobs 2 --index-jobs 2"
status=0
"$PGSPLIT" run "$WORK/mapping.txt" --jobs 2 --index-jobs 2 --no-progress \
    --work-dir "$WORK/journal" --json "$WORK/report.json" || status=$?
if [ "$status" -ne 0 ]; then
    log "pgsplit run failed with exit status $status"
    exit "$status"
fi

# Proof, independent of pgsplit's own verification: count rows on both sides.
count_sql="SELECT n.nspname || '.' || c.relname, (xpath('/row/n/text()',
             query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname IN ('accounts', 'inventory', 'sales')
           ORDER BY 1"
src_psql -At -F ' ' -c "$count_sql" | LC_ALL=C sort >"$WORK/source.counts"
dst_psql -At -F ' ' -c "$count_sql" | LC_ALL=C sort >"$WORK/target.counts"

echo
echo "Row counts, source vs target:"
printf '  %-24s %10s %10s\n' table source target
LC_ALL=C join -a1 -a2 -e missing -o 0,1.2,2.2 "$WORK/source.counts" "$WORK/target.counts" |
    while read -r table src dst; do
        mark=""; [ "$src" = "$dst" ] || mark="   <-- differs"
        printf '  %-24s %10s %10s%s\n' "$table" "$src" "$dst" "$mark"
    done
echo
echo "Objects on the target:"
dst_psql -c "SELECT n.nspname AS schema,
                    count(*) FILTER (WHERE c.relkind = 'r') AS tables,
                    count(*) FILTER (WHERE c.relkind = 'i') AS indexes,
                    count(*) FILTER (WHERE c.relkind = 'v') AS views,
                    count(*) FILTER (WHERE c.relkind = 'S') AS sequences,
                    (SELECT count(*) FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
                      WHERE t.relnamespace = n.oid AND k.contype = 'f') AS foreign_keys
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('accounts', 'inventory', 'sales')
             GROUP BY n.oid, n.nspname ORDER BY 1"
echo "Top customers through the copied view (sales.customer_revenue):"
dst_psql -c "SELECT customer_id, email, tier, orders, revenue FROM sales.customer_revenue
             ORDER BY revenue DESC, customer_id LIMIT 3"
echo "Next order number on the target: $(dst_psql -At -c "SELECT nextval('sales.order_number_seq')")"

if ! cmp -s "$WORK/source.counts" "$WORK/target.counts"; then
    log "row counts differ between source and target"
    exit 3
fi
log "demo finished: every table arrived with the same row count"
