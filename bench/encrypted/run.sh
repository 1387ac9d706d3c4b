#!/usr/bin/env bash
# bench/encrypted/run.sh: DoT and DoH throughput of sekishod against Unbound (and dnsdist when
# installed), cache hits over long-lived TLS connections, on loopback, each server pinned to
# one core and dnsperf on the other. Rounds are interleaved (unbound, dnsdist, sekishod, ...)
# so the drift of a shared machine hits every server alike; the median round is reported and
# the ratio sekishod/other printed per transport.
#
# Environment (all optional):
#   BENCH_SECONDS=5   measured seconds per server, transport and round
#   BENCH_ROUNDS=3    interleaved rounds
#   BENCH_TRANSPORTS="dot doh-get doh-post"
#   BENCH_CLIENTS=64  dnsperf client connections (-c); BENCH_OUTSTANDING=64 (-q): one query in
#                     flight per connection, the most dnsdist 1.7's DoH takes from dnsperf without
#                     losing queries (two per connection lose every one of them)
#   BENCH_NAMES=1000  names in the zone / query list
#   BENCH_PORT_BASE=26350  ports BASE..BASE+7 on 127.0.0.1
#   BUILD_DIR=build SEKISHOD=$BUILD_DIR/daemon/sekishod
# dnsperf sends no SNI and does not verify certificates (see ../shared/CLIENTS.md), so the
# tenant here comes from the source address, as for a network client.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(dirname "$HERE")
REPO=$(dirname "$BENCH_DIR")
BENCH_TAG=bench-tls
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BUILD_DIR=${BUILD_DIR:-$REPO/build}
SEKISHOD=${SEKISHOD:-$BUILD_DIR/daemon/sekishod}
SECONDS_PER=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
TRANSPORTS=${BENCH_TRANSPORTS:-dot doh-get doh-post}
CLIENTS=${BENCH_CLIENTS:-64}
OUTSTANDING=${BENCH_OUTSTANDING:-64}
NAMES=${BENCH_NAMES:-1000}
BASE=${BENCH_PORT_BASE:-26350}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
ZONE=bench.example

need_tools knotd unbound dnsperf openssl taskset kdig
[[ -x $SEKISHOD ]] || die "no sekishod at $SEKISHOD (build first)"
SERVERS="unbound sekishod"
command -v dnsdist >/dev/null && SERVERS="unbound dnsdist sekishod" || log "dnsdist not installed: comparing with Unbound only (apt-get install dnsdist)"

WORK=$(mktemp -d /tmp/sekisho-bench-tls.XXXXXX)
RESULTS=$BENCH_DIR/results/tls-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
bench_machine "$RESULTS/machine.txt"

KNOT_PORT=$BASE
declare -A DOT=([unbound]=$((BASE + 1)) [dnsdist]=$((BASE + 2)) [sekishod]=$((BASE + 3)))
declare -A DOH=([unbound]=$((BASE + 4)) [dnsdist]=$((BASE + 5)) [sekishod]=$((BASE + 6)))
SEK_UDP=$((BASE + 7))

# --- test CA and server certificate (SAN dns.bench, 127.0.0.1) ---------------------------
make_bench_pki "$WORK"

# --- zone, queries, Knot upstream ------------------------------------------------------
{
    echo "\$ORIGIN $ZONE."; echo "\$TTL 86400"
    echo "@ SOA ns hostmaster 1 3600 600 86400 86400"; echo "@ NS ns"; echo "ns A 127.0.0.1"
    awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "n%d A 10.%d.%d.%d\n", i, int(i/65536)%256, int(i/256)%256, i%256 }'
} >"$WORK/zone.txt"
awk -v n="$NAMES" -v z="$ZONE" 'BEGIN { for (i = 0; i < n; i++) printf "n%d.%s A\n", i, z }' >"$WORK/queries.txt"
mkdir -p "$WORK/knot"
sed -e "s|@RUNDIR@|$WORK/knot|g" -e "s|@KNOT_PORT@|$KNOT_PORT|g" -e "s|@ZONE@|$ZONE|g" \
    -e "s|@ZONEFILE@|$WORK/zone.txt|g" "$BENCH_DIR/conf/knot.conf.in" >"$WORK/knot.conf"
knotd -c "$WORK/knot.conf" >"$WORK/knot.log" 2>&1 &
PID[knot]=$!

# --- the servers: one thread each, same certificate, forwarding to Knot -----------------
cat >"$WORK/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@${DOT[unbound]}
    interface: 127.0.0.1@${DOH[unbound]}
    tls-port: ${DOT[unbound]}
    https-port: ${DOH[unbound]}
    http-endpoint: "/dns-query"
    http-notls-downstream: no
    tls-service-key: "$WORK/server.key"
    tls-service-pem: "$WORK/server.pem"
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    incoming-num-tcp: 1024
    msg-cache-size: 256m
    rrset-cache-size: 512m
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    qname-minimisation: no
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$KNOT_PORT
CONF
cat >"$WORK/dnsdist.conf" <<CONF
setSecurityPollSuffix("")
newServer({address="127.0.0.1:$KNOT_PORT"})
pc = newPacketCache(100000, {maxTTL=86400})
getPool(""):setCache(pc)
addTLSLocal("127.0.0.1:${DOT[dnsdist]}", "$WORK/server.pem", "$WORK/server.key")
addDOHLocal("127.0.0.1:${DOH[dnsdist]}", "$WORK/server.pem", "$WORK/server.key", "/dns-query")
setACL({"127.0.0.0/8"})
CONF
cat >"$WORK/sekishod.yaml" <<CONF
server:
  threads: 1
  listen:
    dns: ["127.0.0.1:$SEK_UDP"]
    dot: ["127.0.0.1:${DOT[sekishod]}"]
    doh: ["127.0.0.1:${DOH[sekishod]}"]
  tls: {cert: "$WORK/server.pem", key: "$WORK/server.key"}
  public_name: dns.bench
upstreams: ["127.0.0.1:$KNOT_PORT"]
cache: {max_entries: 100000, serve_stale: 0}
querylog: {enabled: false}
CONF

start_proc unbound "$SERVER_CPU" "$WORK/unbound.log" unbound -d -c "$WORK/unbound.conf"
[[ $SERVERS == *dnsdist* ]] &&
    start_proc dnsdist "$SERVER_CPU" "$WORK/dnsdist.log" dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf"
start_proc sekishod "$SERVER_CPU" "$WORK/sekishod.log" "$SEKISHOD" --config "$WORK/sekishod.yaml"

dot_answers() { # NAME: a DoT query through kdig answers with the zone's address
    kdig @127.0.0.1 -p "${DOT[$1]}" +tls +tls-ca="$WORK/ca.pem" +tls-hostname=dns.bench n0.$ZONE A +short 2>/dev/null | grep -q 10.0.0.0
}
for s in $SERVERS; do
    rc=0; wait_for "$s" 15 dot_answers "$s" || rc=$?
    ((rc != 1)) || tail -5 "$WORK/$s.log" >&2
    ((rc == 0)) || die "$s did not answer over DoT (log: $WORK/$s.log)"
done

# dnsperf NAME TRANSPORT SECONDS → prints "qps lost"
run_dnsperf() {
    local name=$1 transport=$2 secs=$3 args=()
    case $transport in
        dot) args=(-m dot -p "${DOT[$name]}") ;;
        doh-get) args=(-m doh -p "${DOH[$name]}" -O "doh-uri=https://127.0.0.1:${DOH[$name]}/dns-query" -O doh-method=GET) ;;
        doh-post) args=(-m doh -p "${DOH[$name]}" -O "doh-uri=https://127.0.0.1:${DOH[$name]}/dns-query" -O doh-method=POST) ;;
    esac
    local out
    out=$(taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 "${args[@]}" -d "$WORK/queries.txt" -c "$CLIENTS" \
          -q "$OUTSTANDING" -l "$secs" -t 2 2>&1) || true
    local qps lost mean
    qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' <<<"$out")
    mean=$(sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p' <<<"$out")
    lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
    # A run that lost every outstanding query did not measure throughput (dnsperf and dnsdist
    # 1.7's DoH with more than one query in flight per connection): count it as 0, so no ratio
    # is printed. Smaller losses stay visible in summary.tsv's lost column.
    awk -v q="${qps:-0}" -v l="${lost:-0}" -v s="$secs" 'BEGIN { exit !(q * s < 10 * l) }' && qps=0
    printf '%s %s %s\n' "${qps:-0}" "${lost:-?}" "${mean:-0}"
}

# Warm every cache over each transport (the first pass misses once per name).
for s in $SERVERS; do for t in $TRANSPORTS; do run_dnsperf "$s" "$t" 1 >/dev/null; done; done

SUMMARY=$RESULTS/summary.tsv
printf 'transport\tserver\tround\tqps\tlost\tmean_latency_s\n' >"$SUMMARY"
for ((r = 1; r <= ROUNDS; r++)); do
    for t in $TRANSPORTS; do
        for s in $SERVERS; do
            read -r qps lost mean < <(run_dnsperf "$s" "$t" "$SECONDS_PER")
            printf '%s\t%s\t%d\t%s\t%s\t%s\n' "$t" "$s" "$r" "$qps" "$lost" "$mean" | tee -a "$SUMMARY" >&2
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
echo
printf '%-9s' transport; for s in $SERVERS; do printf ' %12s' "$s qps"; done
for s in $SERVERS; do [[ $s == sekishod ]] || printf ' %14s' "sekishod/$s"; done; echo
for t in $TRANSPORTS; do
    declare -A M=()
    for s in $SERVERS; do M[$s]=$(awk -v t="$t" -v s="$s" '$1 == t && $2 == s { print $4 }' "$SUMMARY" | median); done
    printf '%-9s' "$t"; for s in $SERVERS; do printf ' %12.0f' "${M[$s]}"; done
    for s in $SERVERS; do
        [[ $s == sekishod ]] && continue
        awk -v a="${M[sekishod]}" -v b="${M[$s]}" 'BEGIN { printf " %14s", (b > 0 ? sprintf("%.2f", a / b) : "n/a") }'
    done
    echo
    unset M
done | tee "$RESULTS/ratios.txt"
log "results: $RESULTS"
