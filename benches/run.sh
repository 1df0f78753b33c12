#!/usr/bin/env bash
# Comparative benchmark: pgsplit against the tools people use today, on the same two local
# servers, the same dataset and the same parallelism.
#
#   benches/run.sh [--scale N | --tenants T] [--rounds R] [--jobs J] [--target-delay MS]
#                  [--source-delay MS] [--short-warm-up] [--first TOOL]
#
#   --scale N   dataset size factor (default 1, about 1 GB: pgbench scale 30 + wide tables)
#   --tenants T instead: many small tables, a schema per tenant with 10 tables each
#               (benches/tenants.sql; 300 tenants = 3,000 tables, 28 MB)
#   --rounds R  timed rounds (default 3); each round runs every tool once, in a rotated order
#   --target-delay MS  the tools reach the target through benches/delay_proxy.py, which
#               adds MS milliseconds each way (a distant target); default 0: directly
#   --source-delay MS  the same for the source (a distant source)
#   --jobs J    parallelism given to every tool (default 2)
#   --short-warm-up  warm up with one pg_dump | pg_restore copy instead of an untimed run
#               of every tool (for slow set-ups: --target-delay, many --tenants)
#   --first TOOL  the tool that opens round 1 (pgsplit, pgcopydb, dump_dir, dump_pipe);
#               default: one at random, printed (the first timed run tends to be slow)
#
# Tools: pgsplit run (--jobs J --index-jobs J --verify count); pgcopydb clone
# (--table-jobs J --index-jobs J); pg_dump -Fd -jJ then pg_restore -jJ; pg_dump -Fc piped
# into pg_restore. After every run the target's row counts, index and constraint counts are
# compared with the source's: a tool that fails or copies wrongly is reported, not timed.
# Prints a summary table and writes benches/results/<date>-<dataset>.json (+ .logs/).
# PGSPLIT_BIN=/path/to/pgsplit skips the build. Exit status 1 if a pgsplit run failed.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. scripts/demo/cluster.sh
. benches/lib.sh

SCALE=1 TENANTS=0 ROUNDS=3 JOBS=2 DELAY=0 SOURCE_DELAY=0 WARM_UP=round FIRST=
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --scale) SCALE=${2:?}; shift 2 ;;
        --tenants) TENANTS=${2:?}; shift 2 ;;
        --target-delay) DELAY=${2:?}; shift 2 ;;
        --source-delay) SOURCE_DELAY=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --jobs) JOBS=${2:?}; shift 2 ;;
        --short-warm-up) WARM_UP=short; shift ;;
        --first) FIRST=${2:?}; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "--scale must be a positive number" >&2; exit 2; }
[[ $TENANTS =~ ^[0-9]+$ ]] || { echo "--tenants must be a whole number" >&2; exit 2; }
if [ "$TENANTS" -gt 0 ]; then DATASET=tenants$TENANTS; else DATASET=scale$SCALE; fi
[[ $DELAY =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "--target-delay must be a number of milliseconds" >&2; exit 2; }
[[ $SOURCE_DELAY =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "--source-delay must be a number of milliseconds" >&2; exit 2; }
if [ "$DELAY" != 0 ]; then DATASET=$DATASET-delay${DELAY}ms; fi
if [ "$SOURCE_DELAY" != 0 ]; then DATASET=$DATASET-sourcedelay${SOURCE_DELAY}ms; fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds and --jobs must be positive integers" >&2; exit 2; }

TOOLS=(pgsplit pgcopydb dump_dir dump_pipe)
OFFSET=$((RANDOM % ${#TOOLS[@]}))
if [ -n "$FIRST" ]; then
    OFFSET=-1
    for i in "${!TOOLS[@]}"; do [ "${TOOLS[$i]}" = "$FIRST" ] && OFFSET=$i; done
    [ "$OFFSET" -ge 0 ] || { echo "--first must be one of: ${TOOLS[*]}" >&2; exit 2; }
fi
declare -A LABEL=(
    [pgsplit]="pgsplit run"
    [pgcopydb]="pgcopydb clone"
    [dump_dir]="pg_dump -Fd -j$JOBS + pg_restore -j$JOBS"
    [dump_pipe]="pg_dump -Fc | pg_restore"
)
DB=bench

stop_clusters_on_exit benchmark

log "installing what is missing (scripts/setup.sh --bench: PostgreSQL, pgcopydb, pgbench, time)"
scripts/setup.sh --bench
PGSPLIT=$(build_pgsplit)

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS_DIR=$REPO_ROOT/benches/results
RESULT_JSON=$RESULTS_DIR/$STAMP-$DATASET.json
LOG_DIR=$RESULTS_DIR/$STAMP-$DATASET.logs
mkdir -p "$LOG_DIR"

WORK=$(make_temp_dir pgsplit-bench)
# Both servers, their WAL and pg_dump's directory: ~30 GB at --scale 4 (measured). A
# server that runs out of disk mid-run crashes, and every later tool fails.
NEED_MB=$(awk -v s="$SCALE" -v t="$TENANTS" 'BEGIN { print (t > 0 ? 2048 : int(7500 * s) + 2048) }')
FREE_MB=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "$FREE_MB" -ge "$NEED_MB" ] ||
    die "$WORK has $FREE_MB MB free; this run needs about $NEED_MB MB (set TMPDIR elsewhere)"
bench_start_clusters "$WORK"
SOURCE_URL=$(pg_url "$SOURCE_PORT" "$DB")
TARGET_URL=$(pg_url "$TARGET_PORT" "$DB")
# The tools go through the proxies; the script's own resets and checks do not.
PROXY_PIDS=()
# (Under `set -e` a failing command ends the trap, servers and data left behind: hence
# `|| true`, and the status handed to stop_clusters rather than set again with a failing
# `(exit "$status")`, which did that to every failed run.)
trap 'status=$?; kill "${PROXY_PIDS[@]}" 2>/dev/null || true; stop_clusters "$status"' EXIT
# delay SIDE PORT MS: starts a proxy to PORT adding MS each way; its port in $PROXY_PORT.
delay() {
    PROXY_PORT=$(free_port)
    python3 benches/delay_proxy.py "$PROXY_PORT" "$2" "$3" >/dev/null 2>"$LOG_DIR/delay-proxy-$1.log" &
    PROXY_PIDS+=($!)
    log "the tools reach the $1 through a proxy adding $3 ms each way (port $PROXY_PORT)"
}
if [ "$DELAY" != 0 ]; then
    delay target "$TARGET_PORT" "$DELAY"
    TARGET_URL=$(pg_url "$PROXY_PORT" "$DB")
fi
if [ "$SOURCE_DELAY" != 0 ]; then
    delay source "$SOURCE_PORT" "$SOURCE_DELAY"
    SOURCE_URL=$(pg_url "$PROXY_PORT" "$DB")
fi
LOAD_START=$(load_average)

# --- dataset -------------------------------------------------------------------------------
PGBENCH_SCALE=$(pgbench_scale "$SCALE")
t0=$(now)
if [ "$TENANTS" -gt 0 ]; then
    bench_generate_tenants "$DB" "$TENANTS"
else
    bench_generate "$DB" "$SCALE" "$LOG_DIR"
fi
SOURCE_BYTES=$(psql_at "$SOURCE_PORT" "$DB" -c "SELECT pg_database_size(current_database())")
fingerprint "$SOURCE_PORT" "$DB" >"$WORK/source.fingerprint"
SOURCE_ROWS=$(awk '$1 ~ /\./ && $1 !~ /^constraints/ { n += $2 } END { print n }' "$WORK/source.fingerprint")
log "dataset ready in $(elapsed "$t0" "$(now)") s: $((SOURCE_BYTES / 1048576)) MB, $SOURCE_ROWS rows"
sed 's/^/    /' "$WORK/source.fingerprint" >&2

# --- the tools, as a user would run them -----------------------------------------------------
# Each reads $SOURCE_URL and writes $TARGET_URL, into an empty target database that exists
# before the timer starts (pgsplit could create it itself: ~0.1 s of its time that the peers
# would not be timed for).
tool_pgsplit() {
    printf '%s@@%s\n' "$SOURCE_URL" "$TARGET_URL" >"$WORK/mapping.txt"
    /usr/bin/time -f %M -o "$WORK/rss" "$PGSPLIT" run "$WORK/mapping.txt" \
        --jobs "$JOBS" --index-jobs "$JOBS" --verify count --no-progress \
        --work-dir "$WORK/scratch" --json "$WORK/pgsplit-report.json"
}
tool_pgcopydb() {
    pgcopydb clone --source "$SOURCE_URL" --target "$TARGET_URL" \
        --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$WORK/scratch"
}
tool_dump_dir() {
    pg_dump -Fd -j "$JOBS" -f "$WORK/scratch" "$SOURCE_URL" &&
        pg_restore -j "$JOBS" -d "$TARGET_URL" "$WORK/scratch"
}
tool_dump_pipe() {
    pg_dump -Fc "$SOURCE_URL" | pg_restore -d "$TARGET_URL"
}

RESULTS=$WORK/results.tsv # tool round seconds exit_status check rss_kb
: >"$RESULTS"

# run_one TOOL ROUND: resets the target, times the tool, checks the copy, records the result.
run_one() {
    local tool=$1 round=$2 status=0 check=ok rss=- t0 t1 secs
    local logfile=$LOG_DIR/round$round-$tool.log
    reset_target "$TARGET_PORT" "$DB" create
    rm -rf "$WORK/scratch" "$WORK/rss"
    t0=$(now)
    "tool_$tool" >"$logfile" 2>&1 || status=$?
    t1=$(now)
    secs=$(elapsed "$t0" "$t1")
    if [ "$status" -ne 0 ]; then
        check=failed
    elif ! fingerprint "$TARGET_PORT" "$DB" >"$WORK/target.fingerprint" 2>>"$logfile" ||
        ! diff "$WORK/source.fingerprint" "$WORK/target.fingerprint" >>"$logfile"; then
        check=mismatch
    fi
    if [ "$tool" = pgsplit ]; then
        [ -s "$WORK/rss" ] && rss=$(tail -1 "$WORK/rss")
        [ -f "$WORK/pgsplit-report.json" ] && cp "$WORK/pgsplit-report.json" "$LOG_DIR/round$round-pgsplit.json"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$round" "$secs" "$status" "$check" "$rss" >>"$RESULTS"
    if [ "$check" = ok ]; then
        log "round $round: ${LABEL[$tool]}: $secs s"
    else
        log "round $round: ${LABEL[$tool]}: $check after $secs s (exit status $status), log: $logfile"
        tail -15 "$logfile" | sed 's/^/    /' >&2
    fi
}

# --- warm-up -------------------------------------------------------------------------------
# A fresh target cluster creates (and zero-fills) every WAL segment the first copy writes,
# about as many bytes as the copy itself; later copies recycle them. Even after one such
# copy, the first timed runs were slower than later ones (the first tool of round 1 by up
# to 4 s in 10 s), so by default every tool runs once, untimed, before round 1.
if [ "$WARM_UP" = short ]; then
    WARM_UP_TOOLS=(dump_pipe)
else
    WARM_UP_TOOLS=("${TOOLS[@]}")
fi
for tool in "${WARM_UP_TOOLS[@]}"; do
    log "warm-up: one untimed run of ${LABEL[$tool]}"
    reset_target "$TARGET_PORT" "$DB" create
    rm -rf "$WORK/scratch"
    "tool_$tool" >"$LOG_DIR/warm-up-$tool.log" 2>&1 ||
        log "warm-up: ${LABEL[$tool]} failed (log: $LOG_DIR/warm-up-$tool.log); its timed runs will tell"
done

# --- timed rounds --------------------------------------------------------------------------
# Each round runs every tool once; the order rotates from round to round so that no tool is
# always first (cold caches) or always after the same neighbour. The very first timed run
# was the slowest of its tool's runs far more often than chance would have it (whatever the
# warm-up, and after a 90 s pause too), so the tool that opens round 1 is drawn at random
# unless --first says.
log "round 1 opens with ${LABEL[${TOOLS[$OFFSET]}]}"
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS (load average $(load_average))"
    for ((i = 0; i < ${#TOOLS[@]}; i++)); do
        run_one "${TOOLS[$(((i + OFFSET + round - 1) % ${#TOOLS[@]}))]}" "$round"
    done
done
LOAD_END=$(load_average)

# --- summary -------------------------------------------------------------------------------
declare -A MEDIAN MIN MAX OKRUNS
for tool in "${TOOLS[@]}"; do
    awk -F'\t' -v t="$tool" '$1 == t && $5 == "ok" { print $3 }' "$RESULTS" >"$WORK/times"
    read -r "MEDIAN[$tool]" "MIN[$tool]" "MAX[$tool]" "OKRUNS[$tool]" < <(stats "$WORK/times")
done
awk -F'\t' '$1 == "pgsplit" && $5 == "ok" && $6 != "-" { print $6 / 1024 }' "$RESULTS" >"$WORK/rss_mb"
read -r RSS_MEDIAN _ RSS_MAX _ < <(stats "$WORK/rss_mb")
ratio() { # peer median / pgsplit median
    awk -v p="${MEDIAN[$1]}" -v s="${MEDIAN[pgsplit]}" 'BEGIN {
        if (p == "-" || s == "-" || s == 0) print "-"; else printf "%.2f", p / s }'
}

echo
echo "pgsplit benchmark: $DATASET ($((SOURCE_BYTES / 1048576)) MB, $SOURCE_ROWS rows), $ROUNDS round(s), $JOBS jobs"
echo "load average: $LOAD_START at start, $LOAD_END at end ($(nproc) cores); round 1 opened with ${LABEL[${TOOLS[$OFFSET]}]}"
printf '%-36s %8s %8s %8s %6s %10s\n' tool median min max ok "vs pgsplit"
for tool in "${TOOLS[@]}"; do
    printf '%-36s %8s %8s %8s %6s %10s\n' "${LABEL[$tool]}" "${MEDIAN[$tool]}" "${MIN[$tool]}" \
        "${MAX[$tool]}" "${OKRUNS[$tool]}/$ROUNDS" "$(ratio "$tool")"
done
echo "(seconds; \"vs pgsplit\" = tool median / pgsplit median, above 1 means pgsplit is faster)"
echo "pgsplit peak RSS: median $RSS_MEDIAN MB, max $RSS_MAX MB"
failures=$(awk -F'\t' '$5 != "ok"' "$RESULTS")
if [ -n "$failures" ]; then
    echo "failed or mismatching runs (logs in $LOG_DIR):"
    awk -F'\t' '$5 != "ok" { printf "  %s round %s: %s (exit status %s)\n", $1, $2, $5, $4 }' "$RESULTS"
fi

# --- JSON ----------------------------------------------------------------------------------
num() { if [ "$1" = - ]; then echo null; else echo "$1"; fi; }
{
    printf '{\n  "date": "%s",\n  "dataset_kind": "%s",\n  "scale": %s,\n  "tenants": %s,\n  "target_delay_ms": %s,\n  "source_delay_ms": %s,\n  "rounds": %s,\n  "jobs": %s,\n  "warm_up": "%s",\n  "first_tool": "%s",\n' \
        "$(date -Iseconds)" "$DATASET" "$SCALE" "$TENANTS" "$DELAY" "$SOURCE_DELAY" "$ROUNDS" "$JOBS" "$WARM_UP" "${TOOLS[$OFFSET]}"
    printf '  "machine": {"cores": %s, "mem_kb": %s, "load_start": "%s", "load_end": "%s"},\n' \
        "$(nproc)" "$(awk '/MemTotal/ { print $2 }' /proc/meminfo)" "$LOAD_START" "$LOAD_END"
    printf '  "versions": {"postgres": "%s", "pgcopydb": "%s", "pgsplit": "%s", "git": "%s"},\n' \
        "$(psql_at "$SOURCE_PORT" postgres -c 'SHOW server_version')" \
        "$(pgcopydb --version 2>/dev/null | awk '/version/ { print $3; exit }')" \
        "$("$PGSPLIT" --version 2>/dev/null | head -1 | awk '{ print $2 }' | tr -cd '[:alnum:]._+-')" \
        "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)"
    printf '  "server_settings": ['
    printf '"%s", ' "${BENCH_SETTINGS[@]}" | sed 's/, $//'
    printf '],\n  "dataset": {"bytes": %s, "rows": %s, "pgbench_scale": %s},\n' \
        "$SOURCE_BYTES" "$SOURCE_ROWS" "$PGBENCH_SCALE"
    printf '  "summary": [\n'
    sep=""
    for tool in "${TOOLS[@]}"; do
        printf '%s    {"tool": "%s", "label": "%s", "median_s": %s, "min_s": %s, "max_s": %s, "ok_runs": %s, "ratio_to_pgsplit": %s}' \
            "$sep" "$tool" "${LABEL[$tool]}" "$(num "${MEDIAN[$tool]}")" "$(num "${MIN[$tool]}")" \
            "$(num "${MAX[$tool]}")" "${OKRUNS[$tool]}" "$(num "$(ratio "$tool")")"
        sep=$',\n'
    done
    printf '\n  ],\n  "pgsplit_peak_rss_mb": {"median": %s, "max": %s},\n' \
        "$(num "$RSS_MEDIAN")" "$(num "$RSS_MAX")"
    printf '  "runs": [\n'
    awk -F'\t' '{ printf "%s    {\"tool\": \"%s\", \"round\": %s, \"seconds\": %s, \"exit_status\": %s, \"check\": \"%s\", \"peak_rss_kb\": %s}",
                  (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, ($6 == "-" ? "null" : $6) }' "$RESULTS"
    printf '\n  ]\n}\n'
} >"$RESULT_JSON"
log "results written to $RESULT_JSON (tool logs in $LOG_DIR)"

if awk -F'\t' '$1 == "pgsplit" && $5 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
    exit 1
fi
