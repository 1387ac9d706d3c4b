#!/usr/bin/env bash
# bench/upstream_tls/run.sh: cache-miss forwarding over plain UDP vs DNS over TLS vs DNS over
# HTTPS toward the upstream, in one run on loopback. Every query is a name never asked before, so
# each one is forwarded:
#
#   dnsperf --UDP--> front sekishod --udp | tls | https--> back sekishod --UDP--> knotd (wildcard)
#
# Three fronts (one per upstream transport, 1 thread each) forward to the same back (1 thread,
# serving UDP, DoT and DoH with a test CA's certificate). Only the front's upstream transport
# differs between the three, so the ratios tls/udp and https/udp are the cost of encryption
# (TLS records, HTTP/2 framing) on both ends. Rounds are interleaved (udp, tls, https, ...) so the
# drift of a shared machine hits each alike; the median round is reported with the ratios, and
# the machine's load average before the run.
#
# Environment (all optional):
#   BENCH_SECONDS=3   measured seconds per transport and round (kept short: a shared machine)
#   BENCH_ROUNDS=3
#   BENCH_CLIENTS=8 BENCH_OUTSTANDING=200   dnsperf -c / -q toward the front (UDP)
#   BENCH_PORT_BASE=26450  ports BASE..BASE+7 on 127.0.0.1
#   BUILD_DIR=build SEKISHOD=$BUILD_DIR/daemon/sekishod
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(dirname "$HERE")
REPO=$(dirname "$BENCH_DIR")
BENCH_TAG=bench-upstream-tls
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BUILD_DIR=${BUILD_DIR:-$REPO/build}
SEKISHOD=${SEKISHOD:-$BUILD_DIR/daemon/sekishod}
SECONDS_PER=${BENCH_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-8}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
BASE=${BENCH_PORT_BASE:-26450}
ZONE=bench.example
TRANSPORTS="udp tls https"

need_tools knotd dnsperf openssl kdig
[[ -x $SEKISHOD ]] || die "no sekishod at $SEKISHOD (build first)"

WORK=$(mktemp -d /tmp/sekisho-bench-upstream-tls.XXXXXX)
RESULTS=$BENCH_DIR/results/upstream-tls-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
bench_machine "$RESULTS/machine.txt"
KNOT_PORT=$BASE BACK_UDP=$((BASE + 1)) BACK_DOT=$((BASE + 2)) BACK_DOH=$((BASE + 3))
declare -A FRONT=([udp]=$((BASE + 4)) [tls]=$((BASE + 5)) [https]=$((BASE + 6)))

# --- test CA and the back's certificate (SAN dns.bench, 127.0.0.1) ------------------------
make_bench_pki "$WORK"

# --- Knot: a wildcard answers every name of the zone -------------------------------------
{
    echo "\$ORIGIN $ZONE."; echo "\$TTL 86400"
    echo "@ SOA ns hostmaster 1 3600 600 86400 86400"; echo "@ NS ns"; echo "ns A 127.0.0.1"
    echo "* A 10.0.0.1"
} >"$WORK/zone.txt"
mkdir -p "$WORK/knot"
sed -e "s|@RUNDIR@|$WORK/knot|g" -e "s|@KNOT_PORT@|$KNOT_PORT|g" -e "s|@ZONE@|$ZONE|g" \
    -e "s|@ZONEFILE@|$WORK/zone.txt|g" "$BENCH_DIR/conf/knot.conf.in" >"$WORK/knot.conf"
start_proc knot 0-1 "$WORK/knot.log" knotd -c "$WORK/knot.conf"

# --- the back: UDP, DoT and DoH, forwarding to Knot --------------------------------------
cat >"$WORK/back.yaml" <<CONF
server:
  threads: 1
  listen:
    dns: ["127.0.0.1:$BACK_UDP"]
    dot: ["127.0.0.1:$BACK_DOT"]
    doh: ["127.0.0.1:$BACK_DOH"]
  tls: {cert: "$WORK/server.pem", key: "$WORK/server.key"}
  public_name: dns.bench
  tcp: {max_pipelined: 1024}
upstreams: ["127.0.0.1:$KNOT_PORT"]
cache: {max_entries: 100000, serve_stale: 0}
querylog: {enabled: false}
CONF
start_proc back 0-1 "$WORK/back.log" "$SEKISHOD" --config "$WORK/back.yaml"

# --- the fronts: the same but for their upstream's transport -----------------------------
declare -A UPSTREAM=(
    [udp]="{address: \"127.0.0.1:$BACK_UDP\", transport: udp}"
    [tls]="{address: \"127.0.0.1:$BACK_DOT\", transport: tls, tls_name: dns.bench, ca_file: \"$WORK/ca.pem\"}"
    [https]="{url: \"https://127.0.0.1:$BACK_DOH/dns-query\", transport: https, tls_name: dns.bench, ca_file: \"$WORK/ca.pem\"}"
)
for t in $TRANSPORTS; do
    cat >"$WORK/front-$t.yaml" <<CONF
server:
  threads: 1
  listen: {dns: ["127.0.0.1:${FRONT[$t]}"]}
upstreams: [${UPSTREAM[$t]}]
forwarding: {timeout_ms: 2000, attempts: 2, max_upstream_sockets: 4096}
cache: {max_entries: 100000, serve_stale: 0}
querylog: {enabled: false}
CONF
    start_proc "front-$t" 0-1 "$WORK/front-$t.log" "$SEKISHOD" --config "$WORK/front-$t.yaml"
done

answers() { # TRANSPORT: a miss through that front resolves
    kdig @127.0.0.1 -p "${FRONT[$1]}" "probe$RANDOM.$ZONE" A +short +timeout=2 +retry=0 2>/dev/null | grep -q 10.0.0.1
}
for t in $TRANSPORTS; do
    rc=0; wait_for "front-$t" 15 answers "$t" || rc=$?
    ((rc == 0)) || die "the $t front did not answer (logs: $WORK/front-$t.log $WORK/back.log)"
done

# Names never asked before: each run its own prefix, more names than a run can send.
RUN=0
run_dnsperf() { # TRANSPORT SECONDS → "qps lost mean_latency"
    local t=$1 secs=$2 out qps lost mean
    RUN=$((RUN + 1))
    awk -v r="$RUN" -v z="$ZONE" 'BEGIN { for (i = 0; i < 400000; i++) printf "r%d-%d.%s A\n", r, i, z }' >"$WORK/queries.txt"
    out=$(dnsperf -s 127.0.0.1 -p "${FRONT[$t]}" -d "$WORK/queries.txt" -n 1 -c "$CLIENTS" -q "$OUTSTANDING" \
          -l "$secs" -t 3 2>&1) || true
    qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' <<<"$out")
    mean=$(sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p' <<<"$out")
    lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
    printf '%s %s %s\n' "${qps:-0}" "${lost:-?}" "${mean:-0}"
}

run_dnsperf udp 1 >/dev/null  # warm up: first connections, the back's first misses
for t in tls https; do run_dnsperf "$t" 1 >/dev/null; done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SUMMARY=$RESULTS/summary.tsv
printf 'transport\tround\tqps\tlost\tmean_latency_s\n' >"$SUMMARY"
for ((r = 1; r <= ROUNDS; r++)); do
    for t in $TRANSPORTS; do
        read -r qps lost mean < <(run_dnsperf "$t" "$SECONDS_PER")
        printf '%s\t%d\t%s\t%s\t%s\n' "$t" "$r" "$qps" "$lost" "$mean" | tee -a "$SUMMARY" >&2
    done
done

# What the fronts' upstream connections did: opened vs queries carried (reuse).
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
declare -A M=()
for t in $TRANSPORTS; do M[$t]=$(awk -v t="$t" '$1 == t { print $3 }' "$SUMMARY" | median); done
{
    printf 'load average before: %s (nproc %s)\n' "$LOAD_BEFORE" "$(nproc)"
    printf '%-6s %10s %10s\n' upstream "qps" "vs udp"
    for t in $TRANSPORTS; do
        awk -v t="$t" -v a="${M[$t]}" -v b="${M[udp]}" 'BEGIN { printf "%-6s %10.0f %10s\n", t, a, (b > 0 ? sprintf("%.2f", a / b) : "n/a") }'
    done
} | tee "$RESULTS/ratios.txt"
log "results: $RESULTS"
