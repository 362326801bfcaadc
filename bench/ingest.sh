#!/usr/bin/env bash
# bench/ingest.sh -- end-to-end Graphite plaintext ingest benchmark, cairn beside VictoriaMetrics.
#
# For each server (cairn, victoria-metrics) in one invocation: a fresh temp data dir, the server
# on free 127.0.0.1 ports, the same deterministic data set streamed by bench/out/gen over CONNS
# TCP connections, then polling until every point is queryable. Measured:
#   points/s      points / (time all points were queryable - time gen sent its first byte)
#   CPU s         server utime+stime from /proc/<pid>/stat when all points were queryable
#                 ("ingest") and just before the stop ("total", includes VM's forced merge)
#   peak RSS      VmHWM from /proc/<pid>/status just before the stop
#   bytes/point   du -sb of the data dir after a graceful stop (SIGTERM cairn, SIGINT VM),
#                 for VM after /internal/force_flush and /internal/force_merge, for cairn after its
#                 idle compaction (10 s after the last point) has left one segment; also shown
#                 without VM's cache/ dir (a dump of in-memory caches, rebuilt if deleted)
# and the data set's entropy floor from `gen --floor`. Prints one markdown section on stdout
# (progress on stderr); --results FILE also appends it to FILE.
#
# Counting points: VictoriaMetrics stores an untagged Graphite name as __name__ and a tagged one
# (`cpu.user;host=h;dc=d`) as __name__=cpu.user plus labels, so every gen line is one sample of
# one series; the count is sum(count_over_time({__name__=~".+"}[window])) at the last timestamp
# (the data dir holds nothing else: no self-scrape). cairn is counted with Akumuli `aggregate`
# count queries per query target (`gen --names`), then verified once (untimed) with `select`
# CSV queries counting rows; if `aggregate` gives nothing usable the `select` count is polled.
#
# The server runs, polls and measurements are in bench/lib.sh (shared with protocols.sh).
# Every wait is bounded; every process started here is killed by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

HOSTS=${HOSTS:-200}
METRICS=${METRICS:-10}
POINTS=${POINTS:-8640}
CONNS=${CONNS:-4}
TAGGED=${TAGGED:-0}
SEED=${SEED:-1}
START_S=${START_S:-1767225600}          # 2026-01-01T00:00:00Z
PREGEN=${PREGEN:-0}
REPEAT=${REPEAT:-1}
SERVERS=${SERVERS:-"cairn victoria-metrics"}
CAIRND=${CAIRND:-$ROOT/build/release/cairnd}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
RESULTS=${RESULTS:-}
KEEP=${KEEP:-0}
START_TIMEOUT_S=${START_TIMEOUT_S:-60}
SEND_TIMEOUT_S=${SEND_TIMEOUT_S:-1800}
POLL_TIMEOUT_S=${POLL_TIMEOUT_S:-900}
MERGE_TIMEOUT_S=${MERGE_TIMEOUT_S:-900}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-300}
IDLE_WAIT_S=${IDLE_WAIT_S:-180}          # wait up to this long for other load to go away
CMDLINE="$0 $*"

usage() {
    cat <<EOF
usage: bench/ingest.sh [--quick] [--hosts H] [--metrics M] [--points P] [--conns N] [--tagged]
                       [--seed S] [--pregen] [--servers "cairn victoria-metrics"]
                       [--repeat N] [--results FILE] [--keep]
Defaults (or env HOSTS METRICS POINTS CONNS TAGGED SEED PREGEN SERVERS REPEAT RESULTS KEEP):
  200 hosts x 10 metrics = 2000 series x 8640 points (1 day at 10 s) = 17.28 M points, 4 conns.
  --quick = 20 hosts x 10 metrics x 360 points (72 000 points).
  --repeat N runs the servers N times, interleaved; the cairn/VM row compares medians.
  CAIRND (default build/release/cairnd) and VM_BIN (default /usr/bin/victoria-metrics).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) HOSTS=20 METRICS=10 POINTS=360 ;;
    --hosts) HOSTS=$2; shift ;;
    --metrics) METRICS=$2; shift ;;
    --points) POINTS=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --tagged) TAGGED=1 ;;
    --pregen) PREGEN=1 ;;
    --repeat) REPEAT=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "ingest.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in HOSTS METRICS POINTS CONNS SEED START_S REPEAT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "ingest.sh: $v must be a number" >&2; exit 2; }
done

LOG_NAME=ingest
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_setup

ROWS=()
WIRE_BYTES=unknown
PROBE_NOTE=0
declare -A R_PPS R_CPU R_RSS R_BPP

# run_server SERVER RUN: one run fed Graphite plaintext; appends its table row.
run_server() {
    bench_run_server "$1" "$2" plaintext
    if [ "$RUN_STATUS" != ok ]; then
        [ "$2" = 1 ] && ROWS+=("| $1 | $RUN_STATUS | | | | | | | | | | | |")
        return 0
    fi
    WIRE_BYTES=$RUN_WIRE_BYTES
    local label=$1
    if [ "$RUN_METHOD" = probe ]; then
        label="$1 ¹"
        PROBE_NOTE=1
    fi
    ROWS+=("| $label | $EXPECT | $RUN_WALL | $RUN_PPS | $RUN_CPU_INGEST | $RUN_CPU_TOTAL | $RUN_RSS | $RUN_BYTES | $RUN_BPP | $RUN_BPP_NOCACHE | $RUN_XFLOOR | $RUN_GEN_CPU | $RUN_OTHER_CPU |")
    R_PPS[$1]+=" $RUN_PPS"
    R_CPU[$1]+=" $RUN_CPU_INGEST"
    R_RSS[$1]+=" $RUN_RSS"
    R_BPP[$1]+=" $RUN_BPP_NOCACHE"
}

grep -qw cairn <<<"$SERVERS" ||
    ROWS+=("| cairn | not yet measured (not in SERVERS) | | | | | | | | | | | |")
for ((run = 1; run <= REPEAT; run++)); do
    for s in $SERVERS; do
        run_server "$s" "$run"
    done
done

{
    echo "### $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    machine_line
    echo "- command: \`$CMDLINE\` (HOSTS=$HOSTS METRICS=$METRICS POINTS=$POINTS CONNS=$CONNS" \
        "TAGGED=$TAGGED SEED=$SEED PREGEN=$PREGEN REPEAT=$REPEAT)"
    echo "- data set: $SERIES series x $POINTS points = $EXPECT points, $([ "$TAGGED" = 1 ] &&
        echo tagged || echo untagged) Graphite plaintext, $WIRE_BYTES bytes on the wire"
    echo "- entropy floor (\`gen --floor\`): $FLOOR_BITS bits/point = $FLOOR_BYTES bytes/point"
    echo
    echo "| server | points | s (first byte → all queryable) | points/s | CPU s ingest | CPU s total | peak RSS MiB | disk bytes | bytes/point | bytes/point w/o VM cache/ | × floor | gen CPU s | other CPU s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    if [ -n "${R_PPS[cairn]:-}" ] && [ -n "${R_PPS[victoria-metrics]:-}" ]; then
        echo "| cairn / VM$([ "$REPEAT" -gt 1 ] && echo " (medians)") | | | $(ratio "${R_PPS[cairn]}" "${R_PPS[victoria-metrics]}") | $(ratio "${R_CPU[cairn]}" "${R_CPU[victoria-metrics]}") | | $(ratio "${R_RSS[cairn]}" "${R_RSS[victoria-metrics]}") | | | $(ratio "${R_BPP[cairn]}" "${R_BPP[victoria-metrics]}") | | | |"
    else
        echo "| cairn / VM | not yet measured | | | | | | | | | | | |"
    fi
    echo "| entropy floor | $EXPECT | | | | | | $(awk -v f="$FLOOR_BYTES" -v n="$EXPECT" 'BEGIN { printf "%.0f", f * n }') | $FLOOR_BYTES | $FLOOR_BYTES | 1.00 | | |"
    echo
    if [ "$PROBE_NOTE" = 1 ]; then
        echo "¹ cairn has no \`aggregate\` count yet: timed to the first poll that saw the last point of"
        echo "every series, with a full \`select\` row count right after it finding every point."
        echo
    fi
} >"$WORK/section.md"
cat "$WORK/section.md"
if [ -n "$RESULTS" ]; then
    cat "$WORK/section.md" >>"$RESULTS"
    log "appended to $RESULTS"
fi
