#!/usr/bin/env bash
# Does splitting one big table into chunks pay off? Times `pgsplit run` on a database that
# holds a single narrow table, with --split-tables-larger-than set so that the table is cut
# into ~C chunks, against the same run without splitting.
#
#   benches/chunks.sh [--rows N] [--chunks C] [--rounds R] [--jobs J]
#
#   --rows N    rows in the table (default 20000000, about 1.2 GB; try 2000000 first)
#   --chunks C  chunks wanted when splitting (default 4)
#   --rounds R  timed rounds (default 3); each runs both variants, alternating which is first
#   --jobs J    --jobs and --index-jobs for both variants (default 2)
#
# Same servers and settings as benches/run.sh. Prints medians, the ratio, and the chunk
# lines of pgsplit's report. Chunks are never smaller than 8 MB, so below ~500k rows the
# table is not split. PGSPLIT_BIN=/path/to/pgsplit skips the build.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. scripts/demo/cluster.sh
. benches/lib.sh

ROWS=20000000 CHUNKS=4 ROUNDS=3 JOBS=2
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=${2:?}; shift 2 ;;
        --chunks) CHUNKS=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --jobs) JOBS=${2:?}; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
for v in "$ROWS" "$CHUNKS" "$ROUNDS" "$JOBS"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "arguments must be positive integers" >&2; exit 2; }
done
DB=chunks

stop_clusters_on_exit benchmark

scripts/setup.sh --bench
PGSPLIT=$(build_pgsplit)
WORK=$(make_temp_dir pgsplit-chunks)
bench_start_clusters "$WORK"
SOURCE_URL=$(pg_url "$SOURCE_PORT" "$DB")
TARGET_URL=$(pg_url "$TARGET_PORT" "$DB")
printf '%s@@%s\n' "$SOURCE_URL" "$TARGET_URL" >"$WORK/mapping.txt"
LOAD_START=$(load_average)

log "creating $ROWS rows in $DB.public.narrow on the source"
t0=$(now)
psql_at "$SOURCE_PORT" postgres -c "CREATE DATABASE $DB"
psql_at "$SOURCE_PORT" "$DB" <<SQL
CREATE TABLE narrow (id bigint, a int, b int, c text);
INSERT INTO narrow SELECT i, (i * 7919 % 1000003)::int, (i % 1000)::int, 'row ' || (i % 100000)
  FROM generate_series(1::bigint, $ROWS) AS i;
ALTER TABLE narrow ADD PRIMARY KEY (id);
VACUUM ANALYZE narrow;
CHECKPOINT;
SQL
TABLE_BYTES=$(psql_at "$SOURCE_PORT" "$DB" -c "SELECT pg_table_size('narrow')")
# pgsplit cuts a table into ceil(size / threshold) chunks (size = pg_table_size): a
# threshold just above size / C gives C chunks.
THRESHOLD_KB=$((TABLE_BYTES / CHUNKS / 1024 + 1))
fingerprint "$SOURCE_PORT" "$DB" >"$WORK/source.fingerprint"
log "table ready in $(elapsed "$t0" "$(now)") s: $((TABLE_BYTES / 1048576)) MB; splitting threshold ${THRESHOLD_KB}kB"

RESULTS=$WORK/results.tsv # variant round seconds exit_status check rss_kb
: >"$RESULTS"

# run_variant whole|split ROUND
run_variant() {
    local variant=$1 round=$2 status=0 check=ok t0 t1 secs rss=- split_args=()
    [ "$variant" = split ] && split_args=(--split-tables-larger-than "${THRESHOLD_KB}kB")
    reset_target "$TARGET_PORT" "$DB" absent
    rm -rf "$WORK/scratch" "$WORK/rss"
    t0=$(now)
    /usr/bin/time -f %M -o "$WORK/rss" "$PGSPLIT" run "$WORK/mapping.txt" --jobs "$JOBS" \
        --index-jobs "$JOBS" --verify count --no-progress --work-dir "$WORK/scratch" \
        "${split_args[@]}" >"$WORK/$variant.log" 2>&1 || status=$?
    t1=$(now)
    secs=$(elapsed "$t0" "$t1")
    [ -s "$WORK/rss" ] && rss=$(tail -1 "$WORK/rss")
    if [ "$status" -ne 0 ]; then
        check=failed
    elif ! fingerprint "$TARGET_PORT" "$DB" | diff "$WORK/source.fingerprint" - >>"$WORK/$variant.log"; then
        check=mismatch
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$round" "$secs" "$status" "$check" "$rss" >>"$RESULTS"
    if [ "$check" = ok ]; then
        log "round $round: $variant: $secs s, peak RSS $((${rss/-/0} / 1024)) MB"
    else
        log "round $round: $variant: $check after $secs s (exit status $status)"
        tail -15 "$WORK/$variant.log" | sed 's/^/    /' >&2
    fi
}

# Warm-up (as in run.sh): the first copy into a fresh cluster also creates its WAL segments.
log "warm-up: one untimed copy"
reset_target "$TARGET_PORT" "$DB" absent
"$PGSPLIT" run "$WORK/mapping.txt" --no-progress --verify none --work-dir "$WORK/warm-up" \
    >"$WORK/warm-up.log" 2>&1 || die "the warm-up copy failed: $(tail -5 "$WORK/warm-up.log")"

for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS (load average $(load_average))"
    if ((round % 2)); then order=(split whole); else order=(whole split); fi
    for variant in "${order[@]}"; do run_variant "$variant" "$round"; done
done
LOAD_END=$(load_average)

declare -A MEDIAN MIN MAX OKRUNS
for variant in whole split; do
    awk -F'\t' -v t="$variant" '$1 == t && $5 == "ok" { print $3 }' "$RESULTS" >"$WORK/times"
    read -r "MEDIAN[$variant]" "MIN[$variant]" "MAX[$variant]" "OKRUNS[$variant]" < <(stats "$WORK/times")
done

echo
echo "pgsplit chunks benchmark: $ROWS rows, $((TABLE_BYTES / 1048576)) MB, $ROUNDS round(s), --jobs $JOBS"
echo "load average: $LOAD_START at start, $LOAD_END at end ($(nproc) cores)"
printf '%-44s %8s %8s %8s %6s\n' variant median min max ok
printf '%-44s %8s %8s %8s %6s\n' "whole table" "${MEDIAN[whole]}" "${MIN[whole]}" "${MAX[whole]}" "${OKRUNS[whole]}/$ROUNDS"
printf '%-44s %8s %8s %8s %6s\n' "--split-tables-larger-than ${THRESHOLD_KB}kB" "${MEDIAN[split]}" \
    "${MIN[split]}" "${MAX[split]}" "${OKRUNS[split]}/$ROUNDS"
awk -v w="${MEDIAN[whole]}" -v s="${MEDIAN[split]}" 'BEGIN {
    if (w == "-" || s == "-") print "ratio whole / split: -";
    else printf "ratio whole / split: %.2f (above 1: splitting is faster)\n", w / s }'
echo "chunk lines of the last split run's report:"
grep -E '^ *(table|chunk|public\.narrow)' "$WORK/split.log" || echo "  (none: the table was not split)"

if awk -F'\t' '$5 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
    echo "failed or mismatching runs:"
    awk -F'\t' '$5 != "ok" { printf "  %s round %s: %s (exit status %s)\n", $1, $2, $5, $4 }' "$RESULTS"
    exit 1
fi
