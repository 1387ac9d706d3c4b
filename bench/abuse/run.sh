#!/usr/bin/env bash
# bench/abuse/run.sh: does a random-subdomain flood from one tenant raise another tenant's
# latency? Attacker and victim in the same run, with dnsperf, against one sekishod (one thread)
# forwarding to knotd on loopback:
#   - tenant "victim" (127.0.2.0/24): dnsperf at a steady rate, 90 % names in the cache and 10 %
#     names never asked before (a miss each, answered NXDOMAIN by knotd);
#   - tenant "attacker" (127.0.1.0/24): dnsperf at BENCH_FLOOD_QPS over random names under
#     flood.example. (each a cache miss that goes to knotd).
# Three phases of BENCH_SECONDS each: the victim alone; victim + flood with the limits off; victim +
# flood with the attacker's limits on (tenant quota, caps on waiting queries). Prints the victim's
# p99 in each, the ratios flood/alone (goal: within 2x with the limits on), and what the limits
# refused (qps). The victim's latencies are dnsperf's own per query (-v), over every answer.
#
# Environment (all optional):
#   BENCH_SECONDS=4        seconds per phase
#   BENCH_VICTIM_QPS=1000  the victim's steady rate
#   BENCH_FLOOD_QPS=3000   the attacker's dnsperf -Q, the same in both flood phases (0: as fast as
#                          dnsperf goes; a closed loop then sends faster the faster it is refused)
#   BENCH_QUOTA=500        the attacker tenant's queries_per_second in the protected phase
#   BENCH_PORT_BASE=26450  ports BASE..BASE+2 on 127.0.0.1
#   BUILD_DIR=build SEKISHOD=$BUILD_DIR/daemon/sekishod
# Bounded: about 3 x BENCH_SECONDS + 10 s. Do not run it while the machine is loaded beyond a
# short smoke run: the figures are then the load's, not sekishod's.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(dirname "$HERE")
REPO=$(dirname "$BENCH_DIR")
BENCH_TAG=bench-abuse
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BUILD_DIR=${BUILD_DIR:-$REPO/build}
SEKISHOD=${SEKISHOD:-$BUILD_DIR/daemon/sekishod}
SECS=${BENCH_SECONDS:-4}
VICTIM_QPS=${BENCH_VICTIM_QPS:-1000}
FLOOD_QPS=${BENCH_FLOOD_QPS:-3000}
QUOTA=${BENCH_QUOTA:-500}
BASE=${BENCH_PORT_BASE:-26450}
KNOT_PORT=$BASE
DNS_PORT=$((BASE + 1))
METRICS_PORT=$((BASE + 2))

need_tools knotd dnsperf kdig curl python3 taskset
[[ -x $SEKISHOD ]] || die "no sekishod at $SEKISHOD (build first)"
bench_machine  # no results directory: the run prints what it measured, and this first
WORK=$(mktemp -d /tmp/sekisho-bench-abuse.XXXXXX)

# --- knotd: bench.example (n0..n999) and an empty flood.example -------------------------------
for zone in bench.example flood.example; do
    {
        printf '$ORIGIN %s.\n$TTL 86400\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n' "$zone"
        [[ $zone == bench.example ]] && for i in $(seq 0 999); do printf 'n%d A 192.0.2.%d\n' "$i" $((i % 250 + 1)); done
    } >"$WORK/$zone.zone"
done
cat >"$WORK/knot.conf" <<CONF
server:
    rundir: "$WORK"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$WORK"
log:
  - target: stderr
    any: warning
template:
  - id: default
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: bench.example
    file: "$WORK/bench.example.zone"
  - domain: flood.example
    file: "$WORK/flood.example.zone"
CONF
start_proc knot 0 "$WORK/knot.log" knotd -c "$WORK/knot.conf"
probe() { kdig @127.0.0.1 -p "$1" -b 127.0.2.1 "$2" A +timeout=1 +retry=0 2>/dev/null | grep -q 'status: NOERROR'; }
wait_for knot 10 probe "$KNOT_PORT" n1.bench.example || die "knotd did not start: $(cat "$WORK/knot.log")"

# --- sekishod, limits off or on -------------------------------------------------------------
write_config() { # FILE QUOTA CLIENT_CAP TENANT_CAP
    cat >"$1" <<CONF
server:
  threads: 1
  listen:
    dns: ["127.0.0.1:$DNS_PORT"]
upstreams: ["127.0.0.1:$KNOT_PORT"]
forwarding: {timeout_ms: 1000, attempts: 2}
limits:
  upstream_queries_per_client: $3
  upstream_queries_per_tenant: $4
cache: {max_entries: 200000, serve_stale: 0}
admin:
  metrics_listen: ["127.0.0.1:$METRICS_PORT"]
tenants:
  - {id: attacker, networks: ["127.0.1.0/24"], policy: open, queries_per_second: $2}
  - {id: victim, networks: ["127.0.2.0/24"], policy: open}
policies:
  open: {log: none}
CONF
}

# The victim's list: 90 % of the 1000 cached names, 10 % names asked once (uncached misses).
python3 - "$WORK/victim.txt" "$WORK/flood.txt" "$((VICTIM_QPS * SECS * 3 + 1000))" <<'PY'
import random, sys
victim, flood, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(victim, "w") as f:
    for i in range(n):
        if i % 10 == 9:
            f.write("u%d-%08x.bench.example A\n" % (i, random.getrandbits(32)))
        else:
            f.write("n%d.bench.example A\n" % random.randrange(1000))
with open(flood, "w") as f:
    for i in range(400000):
        f.write("%08x%04x.flood.example A\n" % (random.getrandbits(32), i & 0xffff))
PY

metric() { # NAME LABELS: the value in /metrics, 0 when absent
    local key=$1
    [[ -n ${2:-} ]] && key="$1{$2}"
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | K="$key" awk '$1 == ENVIRON["K"] {print $2; f=1} END {if (!f) print 0}'
}

# p99 in µs and count of dnsperf -v lines ("> NOERROR name A 0.000123" or similar: the last field
# is the latency in seconds).
latency() { # FILE
    python3 - "$1" <<'PY'
import sys
lat = []
for line in open(sys.argv[1], errors="replace"):
    if line.startswith(">"):
        try:
            lat.append(float(line.split()[-1]))
        except ValueError:
            pass
lat.sort()
if not lat:
    print("0 0 0")
else:
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
    print("%.0f %.0f %d" % (p(0.5), p(0.99), len(lat)))
PY
}

start_sekishod() { # QUOTA CLIENT_CAP TENANT_CAP
    write_config "$WORK/sekishod.yaml" "$@"
    start_proc sekishod 1 "$WORK/sekishod.log" "$SEKISHOD" --config "$WORK/sekishod.yaml"
    wait_for sekishod 10 probe "$DNS_PORT" n1.bench.example || die "sekishod did not start: $(tail "$WORK/sekishod.log")"
    # Warm the victim's cached names.
    awk '/^n/' "$WORK/victim.txt" | sort -u >"$WORK/warm.txt"
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$DNS_PORT" -a 127.0.2.1 -d "$WORK/warm.txt" -n 1 -c 4 -Q 5000 -t 2 >/dev/null 2>&1 || true
}

phase() { # NAME FLOOD(0|1)
    local name=$1 flood=$2 fpid=""
    if [[ $flood == 1 ]]; then
        local q=()
        [[ $FLOOD_QPS != 0 ]] && q=(-Q "$FLOOD_QPS")
        taskset -c 0 dnsperf -s 127.0.0.1 -p "$DNS_PORT" -a 127.0.1.1 -d "$WORK/flood.txt" -l "$((SECS + 1))" \
            -c 8 -q 500 -t 2 "${q[@]}" >"$WORK/$name.flood.txt" 2>&1 &
        fpid=$!
        sleep 0.5
    fi
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$DNS_PORT" -a 127.0.2.1 -d "$WORK/victim.txt" -l "$SECS" -c 4 \
        -Q "$VICTIM_QPS" -t 2 -v >"$WORK/$name.victim.txt" 2>&1 || true
    [[ -n $fpid ]] && wait "$fpid" || true
}

declare -A P99 P50 N FLOODQPS LIMITED
run_phase() { # NAME FLOOD QUOTA CLIENT_CAP TENANT_CAP
    local name=$1 flood=$2; shift 2
    start_sekishod "$@"
    local before_q before_c before_t
    before_q=$(metric sekisho_limited_queries_total 'reason="tenant_quota"')
    before_c=$(metric sekisho_limited_queries_total 'reason="upstream_per_client"')
    before_t=$(metric sekisho_limited_queries_total 'reason="upstream_per_tenant"')
    phase "$name" "$flood"
    read -r P50[$name] P99[$name] N[$name] < <(latency "$WORK/$name.victim.txt")
    FLOODQPS[$name]=$(awk '/Queries per second/ {print int($4)}' "$WORK/$name.flood.txt" 2>/dev/null || echo 0)
    [[ -n ${FLOODQPS[$name]} ]] || FLOODQPS[$name]=0
    local q c t
    q=$(metric sekisho_limited_queries_total 'reason="tenant_quota"')
    c=$(metric sekisho_limited_queries_total 'reason="upstream_per_client"')
    t=$(metric sekisho_limited_queries_total 'reason="upstream_per_tenant"')
    LIMITED[$name]=$(python3 -c "print('%.0f' % ((float('$q') - float('$before_q') + float('$c') - float('$before_c') + float('$t') - float('$before_t')) / ($SECS + 1)))")
    grep -h "Response codes" "$WORK/$name.victim.txt" | sed "s/^/[$name] victim /" >&2 || true
    [[ $flood == 1 ]] && grep -h "Response codes" "$WORK/$name.flood.txt" | sed "s/^/[$name] attacker /" >&2 || true
    stop_proc sekishod
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_phase alone 0 0 0 0
run_phase flood_unlimited 1 0 0 0
run_phase flood_limited 1 "$QUOTA" 256 2048
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-16s %10s %10s %9s %12s %16s\n' phase victim_p50 victim_p99 answers attacker_qps limited_qps
for p in alone flood_unlimited flood_limited; do
    printf '%-16s %8sus %8sus %9s %12s %16s\n' "$p" "${P50[$p]}" "${P99[$p]}" "${N[$p]}" "${FLOODQPS[$p]:-0}" "${LIMITED[$p]:-0}"
done
ratio() { python3 -c "a, b = float('$1'), float('$2'); print('%.2f' % (a / b if b else float('inf')))"; }
printf '\nvictim p99 flood/alone: limits off %sx, limits on %sx (goal: within 2x)\n' \
    "$(ratio "${P99[flood_unlimited]}" "${P99[alone]}")" "$(ratio "${P99[flood_limited]}" "${P99[alone]}")"
