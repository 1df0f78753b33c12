# shellcheck shell=bash
# Shared by benches/run.sh and benches/chunks.sh. Source it after scripts/demo/cluster.sh.

# Server settings for both benchmark clusters. Durability is off (fsync, full pages,
# synchronous commit) and checkpoints are rare, so that what is timed is the tools' work
# (reading, converting, sending, loading, indexing), not this machine's disk; every tool
# meets the same servers. maintenance_work_mem is a common production value for index builds.
BENCH_SETTINGS=(
    fsync=off
    synchronous_commit=off
    full_page_writes=off
    shared_buffers=256MB
    maintenance_work_mem=256MB
    max_wal_size=4GB
    checkpoint_timeout=30min
    max_connections=100
)

# bench_start_clusters WORK: starts WORK/source and WORK/target; sets SOURCE_PORT, TARGET_PORT.
bench_start_clusters() {
    local work=$1
    mkdir -p "$work/source" "$work/target"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$work/source" "$work/target"; fi
    cluster_start source "$work/source" "${BENCH_SETTINGS[@]}"
    SOURCE_PORT=$CLUSTER_PORT
    cluster_start target "$work/target" "${BENCH_SETTINGS[@]}"
    # shellcheck disable=SC2034 # used by the sourcing script
    TARGET_PORT=$CLUSTER_PORT
}

# pgbench_scale SCALE: the pgbench -i scale of the dataset at SCALE (30 at 1).
pgbench_scale() { awk -v s="$1" 'BEGIN { v = int(30 * s + 0.5); print (v < 1 ? 1 : v) }'; }

# bench_generate DB SCALE LOG_DIR: creates DB on the source and fills it with the benchmark
# dataset: pgbench tables at pgbench_scale SCALE (with their foreign keys) plus
# benches/dataset.sql.
bench_generate() {
    local db=$1 scale=$2 log_dir=$3 pgbench_s
    pgbench_s=$(pgbench_scale "$scale")
    log "generating the dataset on the source: pgbench -i -s $pgbench_s, benches/dataset.sql (scale $scale)"
    psql_at "$SOURCE_PORT" postgres -c "CREATE DATABASE $db"
    pgbench -i -q -s "$pgbench_s" --no-vacuum --foreign-keys "$(pg_url "$SOURCE_PORT" "$db")" \
        >"$log_dir/pgbench-init.log" 2>&1 ||
        { cat "$log_dir/pgbench-init.log" >&2; die "pgbench -i failed"; }
    psql_at "$SOURCE_PORT" "$db" -v scale="$scale" -f benches/dataset.sql >/dev/null
    # Hint bits and statistics are set once here, so no tool pays for them on the source.
    psql_at "$SOURCE_PORT" "$db" -c "VACUUM ANALYZE"
    psql_at "$SOURCE_PORT" postgres -c CHECKPOINT
}

# bench_generate_tenants DB TENANTS LOG_DIR: creates DB on the source with a schema per
# tenant, ten small tables each (benches/tenants.sql).
bench_generate_tenants() {
    local db=$1 tenants=$2
    log "generating the dataset on the source: $tenants tenants of 10 tables (benches/tenants.sql)"
    psql_at "$SOURCE_PORT" postgres -c "CREATE DATABASE $db"
    psql_at "$SOURCE_PORT" "$db" -v tenants="$tenants" -f benches/tenants.sql >/dev/null
    psql_at "$SOURCE_PORT" "$db" -c "VACUUM ANALYZE"
    psql_at "$SOURCE_PORT" postgres -c CHECKPOINT
}

# psql_at PORT DB SQL...: one value per line, unaligned, errors stop.
psql_at() {
    local port=$1 db=$2; shift 2
    PGOPTIONS="-c client_min_messages=warning" psql "$(pg_url "$port" "$db")" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# reset_target PORT DB create|absent: drops DB on the target (disconnecting anyone left),
# creates it empty unless "absent", then flushes both servers' dirty buffers and the OS
# page cache's dirty pages so that one run's write-back does not land in the next one's time.
reset_target() {
    local port=$1 db=$2 mode=$3
    psql_at "$port" postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
    if [ "$mode" = create ]; then psql_at "$port" postgres -c "CREATE DATABASE \"$db\""; fi
    psql_at "$port" postgres -c CHECKPOINT
    psql_at "$SOURCE_PORT" postgres -c CHECKPOINT
    sync
}

# fingerprint PORT DB: "schema.table rows" for every user table, then the numbers of
# indexes and of constraints by kind. Cheap enough to run after every copy, and it catches
# both lost rows and a post-data phase that did not finish.
fingerprint() {
    psql_at "$1" "$2" -F ' ' <<'SQL'
SELECT n.nspname || '.' || c.relname,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                   n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_%'
UNION ALL
SELECT 'indexes', count(*)::text
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
UNION ALL
SELECT 'constraints.' || k.contype::text, count(*)::text
  FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
 GROUP BY k.contype
 ORDER BY 1
SQL
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# stats FILE: reads one number per line; prints "median min max n" (n = 0: "- - - 0").
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "- - - 0"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f %.2f %.2f %d\n", m, v[1], v[NR], NR
        }'
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }
