#!/usr/bin/env bash
# Where does a run's time go? Runs `pgsplit run` a few times on the benchmark dataset and
# prints, per run, the wall time beside the CPU time of each party: pgsplit itself, the
# source server and the target server (their backends, read from the postmaster's
# reaped-children counters), and how much of the machine stayed idle.
#
#   benches/profile.sh [--scale N] [--runs R] [--jobs J] [--verify LEVEL] [--perf] [-- ARGS…]
#
#   --scale N       dataset size factor, as in benches/run.sh (default 1)
#   --runs R        timed runs (default 3), after one untimed warm-up run
#   --jobs J        --jobs and --index-jobs (default 2)
#   --verify LEVEL  none, count or checksum (default count, as in benches/run.sh)
#   --perf          one more run under `perf record -a -g` (needs perf); the profile is
#                   left in benches/results/ for `perf report`
#   -- ARGS…        passed on to every `pgsplit run`
#
# Same servers and settings as benches/run.sh. The servers' long-lived helpers
# (checkpointer, WAL writer) are not counted: only backends that ended with the run.
# PGSPLIT_BIN=/path/to/pgsplit skips the build.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. scripts/demo/cluster.sh
. benches/lib.sh

SCALE=1 RUNS=3 JOBS=2 VERIFY=count PERF=no
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --scale) SCALE=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --jobs) JOBS=${2:?}; shift 2 ;;
        --verify) VERIFY=${2:?}; shift 2 ;;
        --perf) PERF=yes; shift ;;
        --) shift; break ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "--scale must be a positive number" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "--runs and --jobs must be positive integers" >&2; exit 2; }
[ "$PERF" = no ] || command -v perf >/dev/null || die "--perf: perf is not installed"
EXTRA=("$@")
DB=bench

stop_clusters_on_exit profile
scripts/setup.sh --bench
PGSPLIT=$(build_pgsplit)
RESULTS_DIR=$REPO_ROOT/benches/results
LOG_DIR=$RESULTS_DIR/$(date +%Y%m%d-%H%M%S)-profile-scale$SCALE
mkdir -p "$LOG_DIR"
WORK=$(make_temp_dir pgsplit-profile)
bench_start_clusters "$WORK"
bench_generate "$DB" "$SCALE" "$LOG_DIR"
printf '%s@@%s\n' "$(pg_url "$SOURCE_PORT" "$DB")" "$(pg_url "$TARGET_PORT" "$DB")" >"$WORK/mapping.txt"

HZ=$(getconf CLK_TCK)
# server_ticks NAME: CPU ticks of the server's postmaster and of the processes it reaped.
server_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$(head -1 "$WORK/$1/data/postmaster.pid")/stat"; }
# machine_ticks: "busy idle" ticks of all cores.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }

# one_run LABEL [WRAPPER…]: one timed run into a freshly dropped target; prints a row.
one_run() {
    local label=$1 s0 t0 s1 t1 busy0 idle0 busy1 idle1 w0 w1
    shift
    reset_target "$TARGET_PORT" "$DB" absent
    rm -rf "$WORK/scratch"
    s0=$(server_ticks source) t0=$(server_ticks target)
    read -r busy0 idle0 < <(machine_ticks)
    w0=$(now)
    "$@" /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$PGSPLIT" run "$WORK/mapping.txt" \
        --jobs "$JOBS" --index-jobs "$JOBS" --verify "$VERIFY" --no-progress \
        --work-dir "$WORK/scratch" "${EXTRA[@]}" >"$LOG_DIR/$label.out" 2>"$LOG_DIR/$label.err" ||
        { tail -20 "$LOG_DIR/$label.err" >&2; die "pgsplit run failed ($label)"; }
    w1=$(now)
    read -r busy1 idle1 < <(machine_ticks)
    sleep 0.5 # let the servers reap the run's backends
    s1=$(server_ticks source) t1=$(server_ticks target)
    read -r user sys rss <"$WORK/time"
    awk -v l="$label" -v w="$(elapsed "$w0" "$w1")" -v u="$user" -v y="$sys" -v r="$rss" \
        -v s=$((s1 - s0)) -v t=$((t1 - t0)) -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) -v hz="$HZ" \
        'BEGIN { printf "%-8s %8.2f %10.2f %10.2f %10.2f %10.2f %10.2f %8.1f\n",
                 l, w, u + y, s / hz, t / hz, b / hz, i / hz, r / 1024 }'
    grep -E '^  phases:' "$LOG_DIR/$label.out" | sed 's/^ */         /' || true
}

log "warm-up run (untimed)"
one_run warm-up >/dev/null
echo
echo "pgsplit run --jobs $JOBS --index-jobs $JOBS --verify $VERIFY ${EXTRA[*]}: scale $SCALE, $(nproc) cores"
echo "(seconds; server and machine columns are CPU seconds; machine = all cores, incl. other processes)"
printf '%-8s %8s %10s %10s %10s %10s %10s %8s\n' run wall pgsplit source target "machine" idle "RSS MB"
for ((r = 1; r <= RUNS; r++)); do one_run "run$r"; done
if [ "$PERF" = yes ]; then
    one_run perf perf record -a -g -o "$LOG_DIR/perf.data" --
    echo "perf profile of the last run: perf report -i $LOG_DIR/perf.data"
fi
echo "logs: $LOG_DIR"
