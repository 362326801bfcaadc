#!/usr/bin/env bash
# bench/protocols.sh -- cairn's ingest rate per wire protocol, beside VictoriaMetrics' OpenTSDB.
#
# In one invocation, for each format in FORMATS (gen --format: plaintext, pickle, resp,
# resp-bulk, opentsdb): a fresh cairnd with only that protocol's listener (and HTTP) on free
# 127.0.0.1 ports, the same deterministic data set streamed by bench/out/gen in that format,
# then a poll until every point is queryable (bench/lib.sh: the same runs, polls and
# measurements as ingest.sh). Then VictoriaMetrics with -opentsdbListenAddr fed the opentsdb
# format. Every format carries the same points; by default the Graphite formats use tagged
# names (`cpu.user;host=host_0042;dc=dc2`), so every server holds the same series: metric plus
# host and dc tags. Prints one markdown section (progress on stderr): per run points/s, CPU s,
# peak RSS, bytes/point on disk and on the wire; then per format the median points/s and its
# ratio to cairn's plaintext median, and cairn opentsdb / VM opentsdb.
#
# Every wait is bounded; every process started here is killed by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

HOSTS=${HOSTS:-200}
METRICS=${METRICS:-10}
POINTS=${POINTS:-8640}
CONNS=${CONNS:-4}
TAGGED=${TAGGED:-1}
SEED=${SEED:-1}
START_S=${START_S:-1767225600}          # 2026-01-01T00:00:00Z
PREGEN=${PREGEN:-0}
REPEAT=${REPEAT:-1}
FORMATS=${FORMATS:-"plaintext pickle resp resp-bulk opentsdb"}
VM=${VM:-1}
CAIRND=${CAIRND:-$ROOT/build/release/cairnd}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
RESULTS=${RESULTS:-}
KEEP=${KEEP:-0}
START_TIMEOUT_S=${START_TIMEOUT_S:-60}
SEND_TIMEOUT_S=${SEND_TIMEOUT_S:-1800}
POLL_TIMEOUT_S=${POLL_TIMEOUT_S:-900}
MERGE_TIMEOUT_S=${MERGE_TIMEOUT_S:-900}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-300}
IDLE_WAIT_S=${IDLE_WAIT_S:-180}
CMDLINE=$0
for a in "$@"; do
    case $a in *[[:space:]]*) CMDLINE+=" \"$a\"" ;; *) CMDLINE+=" $a" ;; esac
done

usage() {
    cat <<EOF
usage: bench/protocols.sh [--quick] [--hosts H] [--metrics M] [--points P] [--conns N]
                          [--untagged] [--seed S] [--pregen] [--formats "plaintext pickle ..."]
                          [--no-vm] [--repeat N] [--results FILE] [--keep]
Defaults (or env HOSTS METRICS POINTS CONNS TAGGED SEED PREGEN FORMATS VM REPEAT RESULTS KEEP):
  200 hosts x 10 metrics = 2000 series x 8640 points = 17.28 M points, 4 connections,
  FORMATS "plaintext pickle resp resp-bulk opentsdb" into cairn, then opentsdb into VM.
  --quick = 20 hosts x 10 metrics x 360 points (72 000 points).
  --untagged: plaintext and pickle send 'devops.host_0042.cpu.user' (resp and opentsdb always
  carry the tags). --repeat N runs everything N times, interleaved; ratios use medians.
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
    --untagged) TAGGED=0 ;;
    --pregen) PREGEN=1 ;;
    --formats) FORMATS=$2; shift ;;
    --no-vm) VM=0 ;;
    --repeat) REPEAT=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "protocols.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for v in HOSTS METRICS POINTS CONNS SEED START_S REPEAT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "protocols.sh: $v must be a number" >&2; exit 2; }
done
for f in $FORMATS; do
    case $f in
    plaintext | pickle | resp | resp-bulk | opentsdb) ;;
    *) echo "protocols.sh: unknown format '$f'" >&2; exit 2 ;;
    esac
done

LOG_NAME=protocols
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_setup

ROWS=()
PROBE_NOTE=0
declare -A R_PPS R_CPU R_RSS R_BPP R_WIRE
LABELS=()

# run_one SERVER FORMAT RUN: one run; appends its table row and its numbers under the label.
run_one() {
    local srv=$1 fmt=$2 label
    label="$([ "$srv" = cairn ] && echo cairn || echo VM) $fmt"
    bench_run_server "$srv" "$3" "$fmt"
    if [ "$RUN_STATUS" != ok ]; then
        [ "$3" = 1 ] && ROWS+=("| $label | $RUN_STATUS | | | | | | | | | | |")
        return 0
    fi
    grep -qxF "$label" < <(printf '%s\n' "${LABELS[@]:-}") || LABELS+=("$label")
    local wire shown=$label
    wire=$(awk -v b="$RUN_WIRE_BYTES" -v n="$EXPECT" 'BEGIN { printf "%.1f", b / n }')
    if [ "$RUN_METHOD" = probe ]; then
        shown="$label ¹"
        PROBE_NOTE=1
    fi
    ROWS+=("| $shown | $EXPECT | $RUN_WALL | $RUN_PPS | $RUN_CPU_INGEST | $RUN_CPU_TOTAL | $RUN_RSS_INGEST / $RUN_RSS | $RUN_BPP_NOCACHE | $RUN_XFLOOR | $wire | $RUN_GEN_CPU | $RUN_OTHER_CPU |")
    R_PPS[$label]+=" $RUN_PPS"
    R_CPU[$label]+=" $RUN_CPU_INGEST"
    R_RSS[$label]+=" $RUN_RSS_INGEST"
    R_BPP[$label]+=" $RUN_BPP_NOCACHE"
    R_WIRE[$label]=$wire
}

for ((run = 1; run <= REPEAT; run++)); do
    for f in $FORMATS; do
        run_one cairn "$f" "$run"
    done
    [ "$VM" = 1 ] && run_one victoria-metrics opentsdb "$run"
done

fmt_m() { awk -v v="$1" 'BEGIN { printf "%.2f M", v / 1e6 }'; }

{
    echo "### $(date -u +%Y-%m-%dT%H:%M:%SZ) — protocols"
    echo
    machine_line
    echo "- command: \`$CMDLINE\` (HOSTS=$HOSTS METRICS=$METRICS POINTS=$POINTS CONNS=$CONNS" \
        "TAGGED=$TAGGED SEED=$SEED PREGEN=$PREGEN REPEAT=$REPEAT FORMATS=\"$FORMATS\" VM=$VM)"
    echo "- data set: $SERIES series x $POINTS points = $EXPECT points in every format;" \
        "Graphite names $([ "$TAGGED" = 1 ] && echo "tagged (\`cpu.user;host=host_0042;dc=dc2\`)" ||
            echo "untagged (\`devops.host_0042.cpu.user\`)"), RESP/OpenTSDB \`cpu.user host=host_0042 dc=dc2\`;" \
        "pickle frames of 500 entries; resp-bulk one row of $METRICS metrics per host and timestamp"
    echo "- entropy floor (\`gen --floor\`): $FLOOR_BITS bits/point = $FLOOR_BYTES bytes/point"
    echo
    echo "| run | points | s (first byte → all queryable) | points/s | CPU s ingest | CPU s total | peak RSS MiB ingest / total ² | bytes/point (disk, w/o VM cache/) | × floor | wire bytes/point | gen CPU s | other CPU s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    echo
    base="${R_PPS[cairn plaintext]:-}"
    echo "| format$([ "$REPEAT" -gt 1 ] && echo " (medians of $REPEAT)") | points/s | × cairn plaintext | CPU s ingest | points per CPU s | peak RSS MiB ingest ² | bytes/point | wire bytes/point |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for l in "${LABELS[@]}"; do
        pps=$(median "${R_PPS[$l]}")
        cpu=$(median "${R_CPU[$l]}")
        echo "| $l | $(fmt_m "$pps") | $([ -n "$base" ] && ratio "${R_PPS[$l]}" "$base" || echo -) |" \
            "$cpu | $(awk -v n="$EXPECT" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.2f M", n / c / 1e6; else print "-" }') |" \
            "$(median "${R_RSS[$l]}") | $(median "${R_BPP[$l]}") | ${R_WIRE[$l]} |"
    done
    if [ -n "${R_PPS[cairn opentsdb]:-}" ] && [ -n "${R_PPS[VM opentsdb]:-}" ]; then
        echo "| cairn opentsdb / VM opentsdb | $(ratio "${R_PPS[cairn opentsdb]}" "${R_PPS[VM opentsdb]}")× | |" \
            "$(ratio "${R_CPU[cairn opentsdb]}" "${R_CPU[VM opentsdb]}")× | |" \
            "$(ratio "${R_RSS[cairn opentsdb]}" "${R_RSS[VM opentsdb]}")× |" \
            "$(ratio "${R_BPP[cairn opentsdb]}" "${R_BPP[VM opentsdb]}")× | |"
    fi
    echo
    echo "² peak RSS (VmHWM) when every point was queryable / just before the stop, after the"
    echo "untimed verification queries (cairn: a \`select\` of every point; VM: a forced merge)."
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
