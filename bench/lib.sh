# shellcheck shell=bash disable=SC2034  # sourced; RUN_* and FLOOR_* are read by the callers
# bench/lib.sh -- shared parts of the ingest benchmarks (sourced by ingest.sh and protocols.sh).
#
# One server run (bench_run_server): a fresh temp data dir, the server on free 127.0.0.1 ports
# (every cairn listener `cairnd --init` shows is either given a free loopback port or disabled),
# the data set streamed by bench/out/gen in one wire format, a poll until every point is
# queryable, a graceful stop, then the measurements, left in RUN_* globals for the caller's table.
#
# The caller sets, before bench_setup: HERE ROOT HOSTS METRICS POINTS CONNS TAGGED SEED START_S
# PREGEN CAIRND VM_BIN KEEP and the *_TIMEOUT_S / IDLE_WAIT_S limits, and LOG_NAME (log prefix).
# bench_setup builds gen and sets GEN GEN_ARGS SERIES EXPECT LAST_S END_S WINDOW_S FLOOR_BITS
# FLOOR_BYTES CLK_TCK WORK, and installs the EXIT trap that kills (by PID) every process in
# PIDS and removes WORK (kept with KEEP=1).
#
# Every wait is bounded.

log() { echo "[${LOG_NAME:-bench} $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bench_setup() {
    local tool
    for tool in curl jq du awk; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    make -s -C "$HERE" >/dev/null || die "building bench/out/gen failed"
    GEN=$HERE/out/gen
    GEN_ARGS=(--hosts "$HOSTS" --metrics "$METRICS" --points "$POINTS" --seed "$SEED"
        --start "$START_S")
    [ "$TAGGED" = 1 ] && GEN_ARGS+=(--tagged)
    SERIES=$((HOSTS * METRICS))
    EXPECT=$((SERIES * POINTS))
    LAST_S=$((START_S + (POINTS - 1) * 10))
    END_S=$((LAST_S + 1))
    WINDOW_S=$((POINTS * 10 + 10))
    local floor_line
    floor_line=$("$GEN" "${GEN_ARGS[@]}" --floor)
    FLOOR_BITS=$(sed -n 's/.*floor_bits_per_point=\([0-9.]*\).*/\1/p' <<<"$floor_line")
    FLOOR_BYTES=$(sed -n 's/.*floor_bytes_per_point=\([0-9.]*\).*/\1/p' <<<"$floor_line")
    CLK_TCK=$(getconf CLK_TCK)
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    if [ "$KEEP" = 1 ]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}

now_ns() { date +%s%N; }

# cpu_s PID: utime+stime in seconds (fields 14 and 15 of /proc/PID/stat, after the comm field).
cpu_s() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat")
    awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }' <<<"$rest"
}
# busy_jiffies: CPU time all processes on the machine used (user nice system irq softirq steal).
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# wait_idle: bounded wait until the rest of the machine uses < 10% of one core over 1 s, so
# that other people's jobs on a shared machine do not skew the numbers (they are reported
# anyway in the "other CPU s" column).
wait_idle() {
    local deadline=$((SECONDS + IDLE_WAIT_S)) a b
    while :; do
        a=$(busy_jiffies)
        sleep 1
        b=$(busy_jiffies)
        if [ $((b - a)) -lt $((CLK_TCK / 10)) ]; then return 0; fi
        if [ $SECONDS -ge $deadline ]; then
            log "WARNING: machine still busy ($(((b - a) * 100 / CLK_TCK))% of a core used by" \
                "others) after ${IDLE_WAIT_S}s; measuring anyway"
            return 0
        fi
    done
}
hwm_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# wait_http URL TIMEOUT_S PID: until URL answers 200, the server dies, or the time runs out.
wait_http() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$3" 2>/dev/null || return 1
        if curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null | grep -q '^200$'; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# stop_server PID SIGNAL: graceful stop, bounded; SIGKILL and a note if it hangs.
stop_server() {
    local pid=$1 sig=$2 deadline=$((SECONDS + STOP_TIMEOUT_S))
    kill "-$sig" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "server $pid did not stop within ${STOP_TIMEOUT_S}s of SIG$sig; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 1
    fi
    wait "$pid" 2>/dev/null || true
    return 0
}

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ratio "A values" "B values": median(A) / median(B), or "-".
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

machine_line() {
    echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
        "kernel $(uname -r)"
    echo "- victoria-metrics: $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo "?") ($VM_BIN)"
}

# ---- VictoriaMetrics -------------------------------------------------------------------------
vm_query() { # vm_query HTTP_PORT PROMQL TIME -> the scalar of the first result, or 0
    { curl -s -m 120 "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" \
        -d "time=$3" -d nocache=1 || true; } | jq -r '.data.result[0].value[1] // "0"' 2>/dev/null ||
        echo 0
}
vm_count() {
    curl -s -m 60 -o /dev/null "http://127.0.0.1:$1/internal/force_flush" || true
    vm_query "$1" "sum(count_over_time({__name__=~\".+\"}[${WINDOW_S}s]))" "$END_S"
}
vm_metric() { # vm_metric HTTP_PORT NAME -> sum of that metric's samples in /metrics
    { curl -s -m 30 "http://127.0.0.1:$1/metrics" || true; } |
        awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}

# ---- cairn -----------------------------------------------------------------------------------
# cairn_cfg KIND PORT FILE FORMAT: a curl config with one Akumuli query per target (`gen --names`
# for FORMAT); KIND aggregate (count over the whole range), select (every point) or probe
# (select of the last step only)
cairn_cfg() {
    local from=$((START_S * 1000000000)) to=$(((LAST_S + 10) * 1000000000)) name q sep=""
    [ "$1" = probe ] && from=$((LAST_S * 1000000000))
    : >"$3"
    while IFS= read -r name; do
        if [ "$1" = aggregate ]; then
            q="{\\\"aggregate\\\":{\\\"$name\\\":\\\"count\\\"},"
        else
            q="{\\\"select\\\":\\\"$name\\\","
        fi
        q+="\\\"range\\\":{\\\"from\\\":$from,\\\"to\\\":$to},\\\"output\\\":{\\\"format\\\":\\\"csv\\\"}}"
        printf '%surl = "http://127.0.0.1:%s/api/query"\ndata = "%s"\n' "$sep" "$2" "$q" >>"$3"
        sep=$'next\n'
    done < <("$GEN" "${GEN_ARGS[@]}" --format "$4" --names)
}
cairn_count_aggregate() { # sums the last CSV column of the `name:count tags,ts,value` rows
    { curl -s -m 300 -K "$1" 2>/dev/null || true; } |
        awk -F, 'NF >= 3 && $NF ~ /^[0-9.eE+]+$/ { s += $NF; n++ } END { printf "%.0f\n", (n ? s : -1) }'
}
cairn_count_select() { # counts CSV rows (`name,ts,value`); error lines have no comma
    { curl -s -m 900 -K "$1" 2>/dev/null || true; } | awk -F, 'NF >= 3 { n++ } END { print n + 0 }'
}

# cairn_listener_key FORMAT: the `cairnd --init` key of the listener that takes FORMAT.
cairn_listener_key() {
    case $1 in
    plaintext) echo graphite.plaintext ;;
    pickle) echo graphite.pickle ;;
    resp | resp-bulk) echo resp.tcp ;;
    opentsdb) echo opentsdb.tcp ;;
    *) die "no cairn listener for format $1" ;;
    esac
}

# vm_listener_flag FORMAT: the VictoriaMetrics flag of the listener that takes FORMAT.
vm_listener_flag() {
    case $1 in
    plaintext) echo -graphiteListenAddr ;;
    opentsdb) echo -opentsdbListenAddr ;;
    *) die "VictoriaMetrics has no listener for format $1" ;;
    esac
}

# ---- one server run --------------------------------------------------------------------------
# bench_run_server SERVER RUN FORMAT: runs SERVER (cairn or victoria-metrics) fed FORMAT (a
# `gen --format`) and sets RUN_STATUS ("ok", or why the server was skipped), RUN_WALL RUN_PPS
# RUN_CPU_INGEST RUN_CPU_TOTAL RUN_RSS (peak, at the stop) RUN_RSS_INGEST (peak when all points
# were queryable, before the untimed verification queries) RUN_BYTES RUN_BPP RUN_BPP_NOCACHE RUN_XFLOOR RUN_GEN_CPU
# RUN_OTHER_CPU RUN_METHOD (count or probe) RUN_WIRE_BYTES RUN_CHECK. Dies on a failed run.
bench_run_server() {
    local srv=$1 fmt=$3
    local dir=$WORK/$srv.$fmt.$2 lport hport pid sig health lkey
    RUN_STATUS=ok
    mkdir -p "$dir/data"
    lport=$("$GEN" --free-port)
    hport=$("$GEN" --free-port)
    while [ "$hport" = "$lport" ]; do hport=$("$GEN" --free-port); done
    case $srv in
    cairn)
        if [ ! -x "$CAIRND" ]; then
            log "cairn: $CAIRND is missing (not built yet); skipping cairn"
            RUN_STATUS="not yet measured ($CAIRND missing)"
            return 0
        fi
        lkey=$(cairn_listener_key "$fmt")
        # Every listener key that `cairnd --init` shows (a host:port default) is set: the two
        # used here to 127.0.0.1, every other one to "" (disabled), so nothing else binds.
        local sets=() k keys
        keys=$("$CAIRND" --init 2>/dev/null | awk '
            /^\[[a-z_]+\]/ { sec = substr($1, 2, length($1) - 2); next }
            /^[a-z_]+ = / && $3 ~ /^(\[[^]]*\]|[0-9a-z.]*):[0-9]+$/ { print sec "." $1 }') || true
        [ -n "$keys" ] || keys=$'graphite.plaintext\ngraphite.udp\nhttp.listen'
        if ! grep -qx http.listen <<<"$keys"; then
            log "cairn: cairnd --init shows no http.listen; cannot query it; skipping cairn"
            RUN_STATUS="not yet measured (no HTTP listener)"
            return 0
        fi
        if ! grep -qx "$lkey" <<<"$keys"; then
            log "cairn: cairnd --init shows no $lkey listener; skipping cairn $fmt"
            RUN_STATUS="not yet measured (no $lkey listener)"
            return 0
        fi
        for k in $keys; do
            case $k in
            "$lkey") sets+=(--set "$k=127.0.0.1:$lport") ;;
            http.listen) sets+=(--set "$k=127.0.0.1:$hport") ;;
            *) sets+=(--set "$k=") ;;
            esac
        done
        "$CAIRND" --data "$dir/data" "${sets[@]}" >"$dir/server.log" 2>&1 &
        pid=$!
        sig=TERM
        ;;
    victoria-metrics)
        [ -x "$VM_BIN" ] || die "$VM_BIN is missing (apt-get install victoria-metrics)"
        lkey=$(vm_listener_flag "$fmt")
        # retentionPeriod: the data set lies in 2026-01, older than VM's default 1 month.
        "$VM_BIN" -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$hport" \
            "$lkey=127.0.0.1:$lport" -retentionPeriod=100y \
            -search.disableCache -loggerLevel=ERROR >"$dir/server.log" 2>&1 &
        pid=$!
        sig=INT
        ;;
    *) die "unknown server $srv" ;;
    esac
    PIDS+=("$pid")
    log "$srv: pid $pid, $fmt on 127.0.0.1:$lport, http 127.0.0.1:$hport, data $dir/data"
    health="http://127.0.0.1:$hport/health"
    wait_http "$health" "$START_TIMEOUT_S" "$pid" ||
        die "$srv did not answer $health within ${START_TIMEOUT_S}s (log: $(tail -5 "$dir/server.log"))"

    local count_mode=vm cfg_agg=$dir/agg.curl cfg_sel=$dir/sel.curl cfg_probe=$dir/probe.curl
    if [ "$srv" = cairn ]; then
        cairn_cfg aggregate "$hport" "$cfg_agg" "$fmt"
        cairn_cfg select "$hport" "$cfg_sel" "$fmt"
        cairn_cfg probe "$hport" "$cfg_probe" "$fmt"
        count_mode=cairn_aggregate
    fi

    local gen_flags=(--format "$fmt" --connect "$lport" --conns "$CONNS")
    [ "$PREGEN" = 1 ] && gen_flags+=(--pregen)
    wait_idle
    local busy0 srv_cpu0
    busy0=$(busy_jiffies)
    srv_cpu0=$(cpu_s "$pid")
    log "$srv: sending $EXPECT points ($SERIES series x $POINTS) as $fmt over $CONNS connections"
    timeout "$SEND_TIMEOUT_S" "$GEN" "${GEN_ARGS[@]}" "${gen_flags[@]}" 2>"$dir/gen.log" ||
        die "$srv: gen failed: $(cat "$dir/gen.log") (server log: $(tail -5 "$dir/server.log"))"
    local first_ns send_s gen_cpu
    first_ns=$(sed -n 's/.*first_byte_ns=\([0-9]*\).*/\1/p' "$dir/gen.log")
    send_s=$(sed -n 's/.*send_s=\([0-9.]*\).*/\1/p' "$dir/gen.log")
    gen_cpu=$(sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p' "$dir/gen.log")
    RUN_WIRE_BYTES=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' "$dir/gen.log")
    log "$srv: gen done in ${send_s}s; polling until $EXPECT points are queryable"

    # The timed end is the end of the first poll that counts every point. Exception: when cairn
    # cannot count (no `aggregate`), streaming every point as CSV per poll would time the query,
    # not the ingest; then it is the end of the first poll that sees the last point of every
    # series, provided a full `select` count right after it finds every point (data is sent in
    # time order); otherwise the full count is polled.
    local deadline=$((SECONDS + POLL_TIMEOUT_S)) got=0 done_ns=0 polls=0 probe_ns method=count
    local verified="" cpu_ingest=0 busy1=0 probe_cpu probe_busy probe_rss rss_ingest=0
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$pid" 2>/dev/null || die "$srv exited during the poll (log: $(tail -5 "$dir/server.log"))"
        case $count_mode in
        vm) got=$(vm_count "$hport") ;;
        cairn_aggregate)
            got=$(cairn_count_aggregate "$cfg_agg")
            if [ "$got" = -1 ]; then
                log "cairn: aggregate count gives no rows; polling the last point of every series"
                count_mode=cairn_probe
                continue
            fi
            ;;
        cairn_probe)
            got=$(cairn_count_select "$cfg_probe")
            polls=$((polls + 1))
            if [ "$got" = "$SERIES" ]; then
                probe_ns=$(now_ns)
                probe_cpu=$(cpu_s "$pid")
                probe_busy=$(busy_jiffies)
                probe_rss=$(hwm_mib "$pid")
                got=$(cairn_count_select "$cfg_sel")
                if [ "$got" = "$EXPECT" ]; then
                    done_ns=$probe_ns
                    cpu_ingest=$probe_cpu
                    busy1=$probe_busy
                    rss_ingest=$probe_rss
                    method=probe
                    verified="select rows=$got (right after the probe)"
                    break
                fi
                log "cairn: last points visible but only $got of $EXPECT rows; polling full counts"
                count_mode=cairn_select
            fi
            sleep 0.2
            continue
            ;;
        cairn_select) got=$(cairn_count_select "$cfg_sel") ;;
        esac
        polls=$((polls + 1))
        if [ "$got" = "$EXPECT" ]; then
            done_ns=$(now_ns)
            cpu_ingest=$(cpu_s "$pid")
            busy1=$(busy_jiffies)
            rss_ingest=$(hwm_mib "$pid")
            break
        fi
        sleep 0.2
    done
    [ "$done_ns" != 0 ] || die "$srv: only $got of $EXPECT points queryable after ${POLL_TIMEOUT_S}s (log: $(tail -5 "$dir/server.log"))"
    local wall_s pps other_cpu
    other_cpu=$(awk -v b0="$busy0" -v b1="$busy1" -v t="$CLK_TCK" -v s0="$srv_cpu0" \
        -v s1="$cpu_ingest" -v g="$gen_cpu" 'BEGIN { o = (b1 - b0) / t - (s1 - s0) - g;
        printf "%.1f", o < 0 ? 0 : o }')
    wall_s=$(awk -v a="$first_ns" -v b="$done_ns" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    pps=$(awk -v n="$EXPECT" -v s="$wall_s" 'BEGIN { printf "%.0f", n / s }')
    log "$srv: all $EXPECT points queryable after ${wall_s}s ($polls polls, $method): $pps points/s"

    # Verification (untimed).
    local check="" series_seen
    if [ "$srv" = victoria-metrics ]; then
        # /api/v1/series/count counts index entries and may exceed the distinct series
        # (VM documents it as approximate), so the check counts series with a query.
        series_seen=$(vm_query "$hport" "count(last_over_time({__name__=~\".+\"}[${WINDOW_S}s]))" "$END_S")
        [ "$series_seen" = "$SERIES" ] || die "VM holds $series_seen series, expected $SERIES"
        check="series=$series_seen, series/count=$(curl -s -m 60 "http://127.0.0.1:$hport/api/v1/series/count" | jq -r '.data[0]')"
        local ins
        ins=$(vm_metric "$hport" vm_rows_inserted_total)
        [ "$ins" = "$EXPECT" ] || log "WARNING: vm_rows_inserted_total=$ins, expected $EXPECT"
        curl -s -m 120 -o /dev/null "http://127.0.0.1:$hport/internal/force_flush" || true
        log "$srv: $(du -sb "$dir/data" | awk '{ print $1 }') bytes live after force_flush;" \
            "forcing a merge (/internal/force_merge)"
        curl -s -m 60 -o /dev/null "http://127.0.0.1:$hport/internal/force_merge" || true
        sleep 1
        local mdl=$((SECONDS + MERGE_TIMEOUT_S))
        while [ $SECONDS -lt $mdl ] && [ "$(vm_metric "$hport" vm_active_force_merges)" != 0 ]; do
            sleep 0.5
        done
        [ "$(vm_metric "$hport" vm_active_force_merges)" = 0 ] ||
            log "WARNING: VM force merge still running after ${MERGE_TIMEOUT_S}s"
    elif [ -n "$verified" ]; then
        check=$verified
    else
        local rows
        rows=$(cairn_count_select "$cfg_sel")
        [ "$rows" = "$EXPECT" ] || die "cairn: select returned $rows rows, expected $EXPECT"
        check="select rows=$rows"
    fi
    if [ "$srv" != victoria-metrics ]; then
        # The counterpart of VM's forced merge: cairn merges its newest segments (up to 4 GiB)
        # once no point has arrived for 10 s (idle compaction); wait for it, bounded.
        local mdl=$((SECONDS + MERGE_TIMEOUT_S))
        while [ $SECONDS -lt $mdl ] && [ "$(vm_metric "$hport" cairn_segments)" -gt 1 ]; do
            sleep 0.5
        done
        log "$srv: $(vm_metric "$hport" cairn_segments) segment(s) after idle compaction"
    fi

    local cpu_total rss
    cpu_total=$(cpu_s "$pid")
    rss=$(hwm_mib "$pid")
    local stopped=ok
    stop_server "$pid" "$sig" || stopped="killed after ${STOP_TIMEOUT_S}s"
    local bytes bytes_nocache bpp bpp_nocache xfloor
    bytes=$(du -sb "$dir/data" | awk '{ print $1 }')
    if [ -d "$dir/data/cache" ]; then
        bytes_nocache=$((bytes - $(du -sb "$dir/data/cache" | awk '{ print $1 }')))
    else
        bytes_nocache=$bytes
    fi
    bpp=$(awk -v b="$bytes" -v n="$EXPECT" 'BEGIN { printf "%.3f", b / n }')
    bpp_nocache=$(awk -v b="$bytes_nocache" -v n="$EXPECT" 'BEGIN { printf "%.3f", b / n }')
    xfloor=$(awk -v b="$bpp_nocache" -v f="$FLOOR_BYTES" 'BEGIN { printf "%.2f", b / f }')
    log "$srv: cpu ${cpu_ingest}s/${cpu_total}s, rss ${rss} MiB, ${bytes} B on disk ($bpp B/pt), stop: $stopped"
    log "$srv: check: $check; gen send_s=$send_s; stop=$stopped"
    RUN_WALL=$wall_s RUN_PPS=$pps RUN_CPU_INGEST=$cpu_ingest RUN_CPU_TOTAL=$cpu_total
    RUN_RSS=$rss RUN_RSS_INGEST=$rss_ingest RUN_BYTES=$bytes RUN_BPP=$bpp RUN_BPP_NOCACHE=$bpp_nocache RUN_XFLOOR=$xfloor
    RUN_GEN_CPU=$gen_cpu RUN_OTHER_CPU=$other_cpu RUN_METHOD=$method RUN_CHECK=$check
}
