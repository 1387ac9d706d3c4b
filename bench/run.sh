#!/usr/bin/env bash
# bench/run.sh: one-shot throughput benchmark of sekishod against Unbound and a
# null responder, on loopback, each server pinned to one core and the load
# generator (bench/dnsload.c) on the other.  See bench/README.md.
#
# Per workload it: generates a zone and a query list, starts Knot as the
# upstream, starts every server, warms their caches, then drives each server
# for BENCH_SECONDS, BENCH_ROUNDS times, interleaved (null, unbound, sekishod,
# null, ...) so that slow drift of this shared machine hits all of them alike.
# The round with the median qps represents each server.
#
# Environment (all optional):
#   BENCH_SECONDS=10      measured seconds per server and round
#   BENCH_ROUNDS=3        interleaved rounds; the median-qps round is reported
#   BENCH_WORKLOADS=cachehit   space-separated workloads (see "Workloads" below)
#   BENCH_SERVERS="null unbound sekishod"  (also sekishod_X: sekishod with the
#                         workload's sekishod_X.yaml.in, e.g. filtering off)
#   BENCH_WORKLOAD_FILES  extra files defining wl_NAME_setup (bench/filter/)
#   BENCH_READY_SECONDS=10  how long a server may take to answer its first query
#   BENCH_NAMES=1000      names in the zone / query list
#   BENCH_LOAD_ARGS="-k 4 -c 64"  extra dnsload options (sockets, outstanding)
#   BENCH_PORT_BASE=25350 ports PORT_BASE..+3 on 127.0.0.1 are used
#   BENCH_SERVER_CPU=1 BENCH_LOAD_CPU=0   cores for the server and the generator
#   BENCH_MAX_OTHER=10 BENCH_RETRIES=3  repeat a run when other processes used
#                         more than this % of a core during it (shared machine)
#   BENCH_KEEP=1          keep the temporary work dir (configs, logs)
#   BUILD_DIR=build       where cmake put dnsload / null_responder / sekishod
#   SEKISHOD=$BUILD_DIR/daemon/sekishod
# Results: bench/results/<timestamp>/ (summary.tsv, raw dnsload lines, logs),
# bench/results/latest points at the newest.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
BENCH_TAG=bench
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BUILD_DIR=${BUILD_DIR:-$REPO/build}
SEKISHOD=${SEKISHOD:-$BUILD_DIR/daemon/sekishod}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-cachehit}
BENCH_SERVERS=${BENCH_SERVERS:-null unbound sekishod}
BENCH_NAMES=${BENCH_NAMES:-1000}
BENCH_LOAD_ARGS=${BENCH_LOAD_ARGS:--k 4 -c 64}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-25350}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
CLK_TCK=$(getconf CLK_TCK)

KNOT_PORT=$BENCH_PORT_BASE
declare -A PORT=([null]=$((BENCH_PORT_BASE + 1)) [unbound]=$((BENCH_PORT_BASE + 2))
                 [sekishod]=$((BENCH_PORT_BASE + 3)))
next_port=$((BENCH_PORT_BASE + 4))
for name in $BENCH_SERVERS; do
    [[ -n ${PORT[$name]:-} ]] && continue
    [[ $name == sekishod_* ]] || die "unknown server $name"
    PORT[$name]=$next_port; next_port=$((next_port + 1))
done

need_tools knotd unbound taskset ss
if (( $(nproc) < 2 )); then
    log "warning: fewer than 2 cores; server and generator share a core, numbers are not comparable"
    SERVER_CPU=0 LOAD_CPU=0
fi

if [[ -n ${BENCH_SETUP_ONLY:-} ]]; then
    RESULTS=$BENCH_SETUP_ONLY/results
    mkdir -p "$RESULTS"
else
    RESULTS=$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)
    mkdir -p "$RESULTS"
    ln -sfn "$(basename "$RESULTS")" "$BENCH_DIR/results/latest"
fi
bench_machine "$RESULTS/machine.txt"
WORK=$(mktemp -d /tmp/sekisho-bench.XXXXXX)
SUMMARY=$RESULTS/summary.tsv
STARTUP=$RESULTS/startup.tsv
printf 'workload\tserver\tstartup_s\trss_kib\tanon_kib\tstartup_rss_kib\n' >"$STARTUP"
printf 'workload\tserver\tround\tqps\tmean_us\tp99_us\tlost\tsent\treceived\tanswers\tcpu_us_per_q\tupstream_cpu_ms\tother_cpu_pct\n' >"$SUMMARY"
STATUS=0

port_free() { [[ -z $(ss -Hlun "sport = :$1") ]]; }

# cpu_ticks PID: utime+stime of the whole process (all threads), in clock ticks.
# The fields are counted after the ")" that ends the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# busy_ticks: ticks all cores spent on anything but idle/iowait, machine-wide.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# kv KEY LINE: value of KEY=... in a DNSLOAD summary line.
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# --- tools: prefer the cmake build, compile into the work dir otherwise -----
tool_path() {
    local name=$1 built=$BUILD_DIR/bench/$1 src=$BENCH_DIR/$1.c
    if [[ -x $built && $built -nt $src ]]; then echo "$built"; return; fi
    log "$name: no up-to-date build at $built, compiling $src"
    cc -O2 -std=c11 -Wall -o "$WORK/$name" "$src" || die "cannot compile $src"
    echo "$WORK/$name"
}
DNSLOAD=$(tool_path dnsload)
NULL_RESPONDER=$(tool_path null_responder)

# subst TEMPLATE OUT VAR=VALUE...: replaces @VAR@ in a config template.
subst() {
    local in=$1 out=$2 kv expr=(); shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$in" >"$out"
}

# probe PORT: true once something on PORT answers a query (needs the zone
# loaded for forwarders, so it also proves the path to Knot works).
# A probe returns as soon as its answer is in (the drain ends when nothing is pending), and
# gives up after 30 ms, so start-up is timed to within about 40 ms (the process start of each
# probe included). A first answer slower than that (a forwarder's first miss on a loaded
# machine) is not lost: the server has it cached for the next probe.
probe() {
    local out
    out=$("$DNSLOAD" -p "$1" -f "$QUERIES" -n 1 -c 1 -k 1 -t 1 -d 0.03 -T 30 2>/dev/null) || return 1
    [[ $(kv noerror_answer "$out") == 1 ]]
}

wait_ready() { # NAME PORT
    POLL=0.01 wait_for "$1" "${BENCH_READY_SECONDS:-10}" probe "$2"
}

# --- Workloads ----------------------------------------------------------------
# A workload NAME is a function wl_NAME_setup DIR that writes into DIR:
#   queries.txt    the query list (dnsperf format: "name type" per line)
#   zone.txt       the zone Knot serves, ZONE_NAME set to its origin
#   sekishod.yaml.in  sekishod config template (@PORT@, @KNOT_PORT@)
#   unbound.conf.in   Unbound config template (@PORT@, @KNOT_PORT@, @RUNDIR@)
# Every measured query must be answerable from cache after the warm-up pass.
# A filtering workload (issue 4) adds blocked names to queries.txt and a
# policy section to its sekishod template; nothing else here changes.

ZONE_NAME=bench.example   # not .test: Unbound answers .test locally (RFC 6761)

write_zone() { # FILE COUNT: SOA, NS and COUNT A records n0..n{COUNT-1}
    local f=$1 n=$2
    {
        echo "\$ORIGIN $ZONE_NAME."
        echo "\$TTL 86400"
        echo "@ SOA ns hostmaster 1 3600 600 86400 86400"
        echo "@ NS ns"
        echo "ns A 127.0.0.1"
        # long TTL: nothing may expire from a cache during the run
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "n%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256 }'
    } >"$f"
}

wl_cachehit_setup() {
    local d=$1
    write_zone "$d/zone.txt" "$BENCH_NAMES"
    awk -v n="$BENCH_NAMES" -v z="$ZONE_NAME" 'BEGIN { for (i = 0; i < n; i++) printf "n%d.%s A\n", i, z }' >"$d/queries.txt"
    cp "$BENCH_DIR/conf/sekishod.yaml.in" "$d/sekishod.yaml.in"
    cp "$BENCH_DIR/conf/unbound.conf.in" "$d/unbound.conf.in"
}

for f in ${BENCH_WORKLOAD_FILES:-}; do
    # shellcheck disable=SC1090  # workload definitions of another benchmark (bench/filter/)
    source "$f"
done

# BENCH_SETUP_ONLY=DIR: write every workload's files into DIR/NAME and stop (a cheap
# check that the setup path works; bench/filter/run.sh --setup-only).
if [[ -n ${BENCH_SETUP_ONLY:-} ]]; then
    for wl in $BENCH_WORKLOADS; do
        declare -F "wl_${wl}_setup" >/dev/null || die "unknown workload $wl"
        mkdir -p "$BENCH_SETUP_ONLY/$wl"
        "wl_${wl}_setup" "$BENCH_SETUP_ONLY/$wl"
    done
    log "workload files written to $BENCH_SETUP_ONLY"
    exit 0
fi

# --- servers -----------------------------------------------------------------
# start_server NAME DIR: config from the workload's templates, pinned start,
# wait until it answers.  Returns 2 when the server is skipped.
start_server() {
    local name=$1 d=$2 port=${PORT[$1]}
    port_free "$port" || die "port $port for $name is in use (set BENCH_PORT_BASE)"
    local t_start=$EPOCHREALTIME
    case $name in
    null)
        start_proc null "$SERVER_CPU" "$d/null.log" "$NULL_RESPONDER" -p "$port" ;;
    unbound)
        mkdir -p "$d/unbound"
        subst "$d/unbound.conf.in" "$d/unbound.conf" PORT="$port" KNOT_PORT="$KNOT_PORT" RUNDIR="$d/unbound"
        start_proc unbound "$SERVER_CPU" "$d/unbound.log" unbound -d -c "$d/unbound.conf" ;;
    sekishod | sekishod_*)
        if [[ ! -x $SEKISHOD ]]; then
            log "$name: skipped, no binary at $SEKISHOD (build it, or set SEKISHOD=/path)"
            return 2
        fi
        [[ -f $d/$name.yaml.in ]] || { log "$name: skipped, the workload has no $name.yaml.in"; return 2; }
        subst "$d/$name.yaml.in" "$d/$name.yaml" PORT="$port" KNOT_PORT="$KNOT_PORT"
        start_proc "$name" "$SERVER_CPU" "$d/$name.log" "$SEKISHOD" --config "$d/$name.yaml" ;;
    *) die "unknown server $name" ;;
    esac
    if ! wait_ready "$name" "$port"; then
        log "error: $name did not answer on port $port within ${BENCH_READY_SECONDS:-10} s; last log lines:"
        tail -n 20 "$d/$name.log" >&2 || true
        stop_proc "$name"
        return 1
    fi
    # Start-up = process start until the first answer (probe granularity ~40 ms).
    STARTED_S=$(awk -v a="$t_start" -v z="$EPOCHREALTIME" 'BEGIN { printf "%.3f", z - a }')
    # Resident set at its first answer, before the warm-up touches the store's pages.
    STARTED_RSS=$(rss_kib "$name")
}

# rss_kib NAME: resident set of the server now (all its memory: store pages touched, caches).
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/${PID[$1]}/status"; }
# anon_kib NAME: the part that is its own (heap, caches), not clean pages of mapped files
# (a memory-mapped store's pages are page cache: shared and reclaimable, and the kernel maps
# up to 64 KiB around each faulting page when its neighbours are cached).
anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/${PID[$1]}/status"; }

# warm NAME: a slow pass over every name fills the cache from Knot, a second
# pass must then answer all of them; a short full-load run settles the server.
warm() {
    local name=$1 port=${PORT[$1]} n out
    n=$(wc -l <"$QUERIES")
    "$DNSLOAD" -p "$port" -f "$QUERIES" -n "$n" -c 8 -k 1 -t 60 -d 2 >/dev/null
    out=$("$DNSLOAD" -p "$port" -f "$QUERIES" -n "$n" -c 8 -k 1 -t 60 -d 2)
    if [[ $(kv noerror_answer "$out") != "$n" ]]; then
        log "warning: $name answered $(kv noerror_answer "$out") of $n warm-up queries with data: $out"
    fi
    taskset -c "$LOAD_CPU" "$DNSLOAD" -p "$port" -f "$QUERIES" -t 1 $BENCH_LOAD_ARGS >/dev/null
}

# measure WORKLOAD NAME ROUND: one timed run, one row in summary.tsv.  This
# machine is shared (builds, other tests): a run during which other processes
# used more than BENCH_MAX_OTHER % of a core is repeated, up to BENCH_RETRIES
# times, after a pause; the last attempt is kept either way.
measure() {
    local attempt
    for attempt in $(seq 0 "${BENCH_RETRIES:-3}"); do
        measure_once "$@"
        (( LAST_OTHER <= ${BENCH_MAX_OTHER:-10} )) && return 0
        (( attempt < ${BENCH_RETRIES:-3} )) || break
        log "machine busy (other processes ${LAST_OTHER}% of a core), repeating in 5 s"
        sed -i '$d' "$SUMMARY"   # drop the noisy row
        sleep 5
    done
}

measure_once() {
    local wl=$1 name=$2 round=$3 pid=${PID[$2]} port=${PORT[$2]}
    local s0 s1 k0 k1 out
    local b0 b1 w0 w1
    s0=$(cpu_ticks "$pid"); k0=$(cpu_ticks "${PID[knot]}"); b0=$(busy_ticks); w0=$EPOCHREALTIME
    # shellcheck disable=SC2086  # BENCH_LOAD_ARGS is a list of options
    out=$(taskset -c "$LOAD_CPU" "$DNSLOAD" -p "$port" -f "$QUERIES" -t "$BENCH_SECONDS" $BENCH_LOAD_ARGS)
    s1=$(cpu_ticks "$pid"); k1=$(cpu_ticks "${PID[knot]}"); b1=$(busy_ticks); w1=$EPOCHREALTIME
    echo "$wl $name round=$round $out" >>"$RESULTS/dnsload.txt"
    kill -0 "$pid" 2>/dev/null || { log "error: $name died during the run"; STATUS=1; }
    local recv cpu_us up_ms
    recv=$(kv received "$out")
    cpu_us=$(awk -v t=$((s1 - s0)) -v hz="$CLK_TCK" -v r="$recv" 'BEGIN { printf "%.2f", r ? t * 1e6 / hz / r : 0 }')
    # Knot's CPU during the run: anything but ~0 means queries missed the cache
    up_ms=$(( (k1 - k0) * 1000 / CLK_TCK ))
    # CPU used by anything but server, generator and Knot, in % of one core:
    # other jobs on this machine (builds, tests) make a round meaningless
    local other
    other=$(awk -v b=$((b1 - b0 - (s1 - s0) - (k1 - k0))) -v hz="$CLK_TCK" -v g="$(kv load_cpu_s "$out")" \
        -v t="$(awk -v a="$w0" -v z="$w1" 'BEGIN { print z - a }')" 'BEGIN { o = (b / hz - g) / t * 100; printf "%.0f", o < 0 ? 0 : o }')
    LAST_OTHER=$other
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$name" "$round" \
        "$(kv qps "$out")" "$(kv mean_us "$out")" "$(kv p99_us "$out")" "$(kv lost "$out")" \
        "$(kv sent "$out")" "$recv" "$(kv noerror_answer "$out")" "$cpu_us" "$up_ms" "$other" >>"$SUMMARY"
    log "$wl round $round $name: qps=$(kv qps "$out") mean=$(kv mean_us "$out")us p99=$(kv p99_us "$out")us lost=$(kv lost "$out") cpu/q=${cpu_us}us upstream_cpu=${up_ms}ms other_cpu=${other}%"
}

run_workload() {
    local wl=$1 d=$WORK/$1 name rc
    # A workload with the full query log leaves GBs of dirty log pages; their writeback must
    # not land in the next workload's rounds.
    sync
    declare -F "wl_${wl}_setup" >/dev/null || die "unknown workload $wl"
    mkdir -p "$d/knot"
    "wl_${wl}_setup" "$d"
    QUERIES=$d/queries.txt
    cp "$QUERIES" "$RESULTS/$wl-queries.txt"

    port_free "$KNOT_PORT" || die "port $KNOT_PORT for knotd is in use (set BENCH_PORT_BASE)"
    subst "$BENCH_DIR/conf/knot.conf.in" "$d/knot.conf" RUNDIR="$d/knot" KNOT_PORT="$KNOT_PORT" \
        ZONE="$ZONE_NAME" ZONEFILE="$d/zone.txt"
    # Knot sits on the generator's core: it only works during the warm-up
    start_proc knot "$LOAD_CPU" "$d/knot.log" knotd -c "$d/knot.conf"
    PORT[knot]=$KNOT_PORT
    wait_ready knot "$KNOT_PORT" || { tail -n 20 "$d/knot.log" >&2; die "knotd did not come up"; }

    local active=()
    for name in $BENCH_SERVERS; do
        rc=0; start_server "$name" "$d" || rc=$?
        case $rc in
        0) warm "$name"; active+=("$name")
           printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$name" "$STARTED_S" "$(rss_kib "$name")" "$(anon_kib "$name")" "$STARTED_RSS" >>"$STARTUP"
           log "$wl $name: answered ${STARTED_S} s after start (RSS then $(( STARTED_RSS / 1024 )) MiB)," \
               "RSS $(( $(rss_kib "$name") / 1024 )) MiB" \
               "($(( $(anon_kib "$name") / 1024 )) MiB anonymous) after warm-up" ;;
        2) ;;                       # skipped (no sekishod binary)
        *) STATUS=1 ;;              # failed to start: reported, go on without it
        esac
    done
    (( ${#active[@]} )) || die "no server could be started"

    # Odd rounds run the servers in the listed order, even rounds in reverse: this VM's speed
    # drifts, and a fixed order would hand the same neighbour (and position) to a server each
    # round. Ratios are taken within a round (below).
    local round i
    for round in $(seq "$BENCH_ROUNDS"); do
        if (( round % 2 )); then
            for name in "${active[@]}"; do measure "$wl" "$name" "$round"; done
        else
            for (( i = ${#active[@]} - 1; i >= 0; i-- )); do measure "$wl" "${active[i]}" "$round"; done
        fi
    done

    for name in "${active[@]}" knot; do
        stop_proc "$name"
        cp "$d/$name.log" "$RESULTS/$wl-$name.log" 2>/dev/null || true
    done
    cp "$d"/*.conf "$d"/*.yaml "$RESULTS/" 2>/dev/null || true
}

log "results: $RESULTS"
log "dnsload: $DNSLOAD $BENCH_LOAD_ARGS; server on core $SERVER_CPU, generator on core $LOAD_CPU;" \
    "$BENCH_ROUNDS x ${BENCH_SECONDS}s per server"
for wl in $BENCH_WORKLOADS; do run_workload "$wl"; done

# --- report: median-qps round per workload and server (quiet rounds first) --
awk -F'\t' -v max="${BENCH_MAX_OTHER:-10}" '
NR == 1 { next }
{ key = $1 SUBSEP $2; n[key]++; row[key, n[key]] = $0; q[key, n[key]] = $4 + 0
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key } }
END {
    printf "\n%-10s %-9s %9s %9s %9s %7s %9s %9s %12s %7s\n", "workload", "server", "qps", "mean_us", "p99_us", "lost", "cpu_us/q", "answers", "upstream_ms", "other%"
    for (k = 1; k <= nk; k++) {
        key = order[k]; m = n[key]
        # rank the rounds by qps and take the middle one (lower middle if even)
        # quiet rounds only (other processes <= max), unless there are none
        c = 0; for (i = 1; i <= m; i++) { split(row[key, i], g, "\t"); if (g[13] <= max) idx[++c] = i }
        if (c == 0) { for (i = 1; i <= m; i++) idx[i] = i; c = m }
        m = c
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (q[key, idx[j]] < q[key, idx[i]]) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
        split(row[key, idx[int((m + 1) / 2)]], f, "\t")
        printf "%-10s %-9s %9d %9.1f %9.1f %7d %9.2f %9d %12d %7d\n", f[1], f[2], f[4], f[5], f[6], f[7], f[11], f[10], f[12], f[13]
        print f[1], f[2], f[4], f[11], f[7], f[9], f[10], f[12], f[13] > "/dev/stderr"
    }
}' "$SUMMARY" 2>"$WORK/median.txt" | tee "$RESULTS/table.txt"

# Sanity checks on the reported rows, then the ratios.  This VM's speed drifts
# within minutes, so a ratio is taken within one round (the servers ran
# seconds apart) and the median over rounds is printed; rounds in which other
# processes were busy are left out when quiet ones exist.
awk -v max="${BENCH_MAX_OTHER:-10}" '
FNR == NR {
    if ($5 > 0) printf "warning: %s/%s lost %d queries\n", $1, $2, $5
    if ($7 < $6) printf "warning: %s/%s: %d of %d answers carried no data (not cache hits?)\n", $1, $2, $6 - $7, $6
    if ($8 > 100) printf "warning: %s/%s: upstream used %d ms CPU during the run (cache misses?)\n", $1, $2, $8
    if ($9 > max) printf "warning: %s/%s: other processes used %d%% of a core during the run: the machine was not quiet\n", $1, $2, $9
    next
}
FNR == 1 { next }
{ qps[$1, $2, $3] = $4; cpu[$1, $2, $3] = $11; other[$1, $2, $3] = $13; wls[$1] = 1
  if ($3 > nr) nr = $3; srv[$1, $2] = 1 }
function median(v, m,    i, j, t) {
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
# ratio WL A B: median over rounds of A/B, returns it (0 when not measured)
function ratio(wl, a, b,    tag, r, k, pass, n, vq, vc, nc, note) {
    tag = wl == "cachehit" ? "" : "  [" wl "]"
    if (!((wl, a) in srv) || !((wl, b) in srv)) {
        printf "ratio %s/%s qps: n/a (%s not measured)%s\n", a, b, ((wl, a) in srv) ? b : a, tag
        return 0
    }
    for (pass = 1; pass <= 2; pass++) {   # pass 1: quiet rounds only; pass 2: all
        n = 0; nc = 0; delete vq; delete vc
        for (r = 1; r <= nr; r++) {
            if (!((wl, a, r) in qps) || !((wl, b, r) in qps) || qps[wl, b, r] <= 0) continue
            if (pass == 1 && (other[wl, a, r] > max || other[wl, b, r] > max)) continue
            vq[++n] = qps[wl, a, r] / qps[wl, b, r]
            if (cpu[wl, b, r] > 0) vc[++nc] = cpu[wl, a, r] / cpu[wl, b, r]
        }
        if (n) break
    }
    note = pass == 1 ? sprintf(" (median of %d quiet rounds)", n) : sprintf(" (median of %d rounds, none quiet)", n)
    printf "ratio %s/%s qps: %.2f%s%s\n", a, b, median(vq, n), tag, note
    if (nc) printf "ratio %s/%s cpu_us_per_query: %.2f%s\n", a, b, median(vc, nc), tag
    return median(vq, n)
}
END {
    print ""
    for (wl in wls) {
        ratio(wl, "sekishod", "unbound"); s = ratio(wl, "sekishod", "null"); u = ratio(wl, "unbound", "null")
        # variants (bench/filter): sekishod against each, and each against sekishod_off
        for (k in srv) { split(k, kk, SUBSEP); if (kk[1] == wl && kk[2] ~ /^sekishod_/) {
            ratio(wl, "sekishod", kk[2])
            if (kk[2] != "sekishod_off" && ((wl, "sekishod_off") in srv)) ratio(wl, kk[2], "sekishod_off") } }
        if (s > 1 || u > 1)
            printf "warning: a server is faster than the null responder on %s: the generator or the machine is the bottleneck, ratios are not trustworthy\n", wl
    }
}' "$WORK/median.txt" "$SUMMARY" | tee "$RESULTS/ratios.txt"

# Start-up and memory: unbound/sekishod per workload (unbound's grows with its local zones).
awk -F'\t' 'NR > 1 { t[$1, $2] = $3; r[$1, $2] = $4; a[$1, $2] = $5; s[$1, $2] = $6; w[$1] = 1 }
END { for (wl in w) if ((wl, "unbound") in t && (wl, "sekishod") in t) {
        printf "start-up [%s]: unbound %.2f s, sekishod %.2f s; RSS unbound %d MiB (%d anonymous), sekishod %d MiB at its first answer, %d MiB after warm-up (%d anonymous)\n", wl, t[wl, "unbound"], t[wl, "sekishod"], r[wl, "unbound"] / 1024, a[wl, "unbound"] / 1024, s[wl, "sekishod"] / 1024, r[wl, "sekishod"] / 1024, a[wl, "sekishod"] / 1024
        if (t[wl, "sekishod"] > 0) printf "ratio unbound/sekishod start-up: %.1f  [%s]\n", t[wl, "unbound"] / t[wl, "sekishod"], wl
        # after warm-up the RSS of sekishod counts the page cache of the store that its lookups
        # mapped (clean, shared, reclaimable); its anonymous memory is what it holds itself, as
        # Unbound holds its local zones
        if (r[wl, "sekishod"] > 0) printf "ratio unbound/sekishod RSS: %.1f  [%s]\n", r[wl, "unbound"] / r[wl, "sekishod"], wl
        if (s[wl, "sekishod"] > 0) printf "ratio unbound/sekishod RSS at first answer: %.1f  [%s]\n", s[wl, "unbound"] / s[wl, "sekishod"], wl
        if (a[wl, "sekishod"] > 0) printf "ratio unbound/sekishod anonymous memory after warm-up: %.1f  [%s]\n", a[wl, "unbound"] / a[wl, "sekishod"], wl } }' \
    "$STARTUP" | tee -a "$RESULTS/ratios.txt"

# The query log drops records (counted, never queries) when its writer falls a ring behind:
# a log-full figure with drops measured less work than it claims.
for f in "$RESULTS"/*-sekishod*.log; do
    [[ -f $f ]] || continue
    awk -v run="$(basename "$f" .log)" '/msg=stopped/ {
        w = d = 0
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "querylog_written") w = kv[2]; if (kv[1] == "querylog_dropped") d = kv[2] }
        printf "query log [%s]: %d records written, %d dropped\n", run, w, d
        if (d > 0) printf "warning: %s dropped %d query-log records: its log-full ratios count work it did not do\n", run, d
    }' "$f"
done | tee -a "$RESULTS/ratios.txt"

log "results written to $RESULTS"
exit "$STATUS"
