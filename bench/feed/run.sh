#!/usr/bin/env bash
# bench/feed/run.sh — RPZ feed speed (issue 18), loopback only, every step bounded in time:
#
#  1. AXFR: a real knotd serves an RPZ of N names with TSIG; sekisho-feed --once loads it into an
#     empty store (names/s from the feed's own time, trigger to commit), ROUNDS times; with
#     OLD_FEED=path, rounds alternate between that build and this one.
#  2. The same RPZ file loaded by Unbound (`rpz:` zonefile) and Knot Resolver
#     (`policy.rpz`): from the start of the process to its first answer that applies the zone's
#     last name (names/s), peak RSS; ratios printed.
#  3. IXFR under load: a store of STORE_N entries (the feed's N plus filler names imported with
#     `sekisho db import`), sekishod serving it under dnsperf (rate QPS, LOAD_S seconds; the feed starts 1 s in; names
#     the policy blocks: answered from the store); a run without a transfer, then a run during
#     which knotd's new serial (K names changed) reaches the feed by IXFR. Prints the IXFR's time,
#     lost queries and the p99 of both runs (from dnsperf -v, each answer's latency).
#
#   bench/feed/run.sh [N=1000000] [K=10000]
#   env: BUILD (build), ROUNDS (2), STORE_N (10000000; 0 skips step 3), QPS (20000), LOAD_S (4),
#        OLD_FEED (unset), PEERS (1; 0 skips step 2), FEED_WRAP (a profiler for step 3's IXFR, e.g.
#        "perf record -g -o /tmp/ixfr.data")
#
# Not a test: prints figures. Everything lives under a temporary directory, removed at exit.
set -euo pipefail
N=${1:-1000000}
K=${2:-10000}
ROUNDS=${ROUNDS:-2}
STORE_N=${STORE_N:-10000000}
QPS=${QPS:-20000}
LOAD_S=${LOAD_S:-4}
PEERS=${PEERS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
FEED=$BUILD/feed/sekisho-feed
SEKISHOD=$BUILD/daemon/sekishod
CLI=$BUILD/admin/sekisho
for b in "$FEED" "$SEKISHOD" "$CLI"; do [ -x "$b" ] || { echo "build $(basename "$b") first ($b)" >&2; exit 1; }; done
BENCH_TAG=bench-feed BUILD_DIR=$BUILD
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # for bench_machine; its EXIT trap is replaced below
bench_machine
WORK=$(mktemp -d /tmp/sekisho-feed-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
TIME_FMT="%e s wall, %U s user, %S s sys, %M KiB max RSS"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); N=$N K=$K; load at start: $(load)"

SECRET=$(head -c 32 /dev/urandom | base64)
PORT=$(free_port)
mkdir -p "$WORK/zones" "$WORK/db"
# The zone: N policy names, CNAME . (NXDOMAIN), as threat feeds publish them.
zone() {  # serial, first changed index (K/2 removed from the front, K/2 new names added)
  python3 - "$N" "$1" "$2" <<'PY'
import sys
n, serial, k = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
w = sys.stdout.write
w("$ORIGIN rpz.bench.\n$TTL 300\n@ SOA ns.rpz.bench. admin.rpz.bench. %d 3600 600 86400 60\n@ NS localhost.\n" % serial)
for i in range(k // 2, n):
    w("host%d.bad%d.example CNAME .\n" % (i, i % 1000))
for i in range(k // 2):
    w("new%d.s%d.example CNAME .\n" % (i, serial))
PY
}
zone 1 0 > "$WORK/zones/rpz.bench.zone"
cp "$WORK/zones/rpz.bench.zone" "$WORK/rpz.bench.zone.1"
LAST="host$((N - 1)).bad$(((N - 1) % 1000)).example"
cat > "$WORK/knot.conf" <<CONF
server:
    rundir: "$WORK"
    listen: 127.0.0.1@$PORT
    background-workers: 1
control:
    listen: "$WORK/knot.sock"
database:
    storage: "$WORK/db"
log:
  - target: stderr
    any: warning
key:
  - id: bench-key
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: xfr
    key: bench-key
    action: transfer
template:
  - id: default
    storage: "$WORK/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    journal-max-usage: 1G
zone:
  - domain: rpz.bench
    acl: xfr
CONF
/usr/sbin/knotd -c "$WORK/knot.conf" 2> "$WORK/knotd.log" &
PIDS+=($!)
for _ in $(seq 1 1200); do
  kdig @127.0.0.1 -p "$PORT" rpz.bench SOA +short 2>/dev/null | grep -q . && break
  sleep 0.1
done
echo "$SECRET" > "$WORK/key"
feed_config() {  # store dir, state dir
  cat <<YAML
server:
  listen:
    dns: ["127.0.0.1:0"]
upstreams: [127.0.0.1:53]
category_db: $1
feeds:
  - name: bench
    primary: "127.0.0.1:$PORT"
    zone: rpz.bench
    tsig: {name: bench-key, secret_file: $WORK/key}
    categories: [malware]
    timeout_ms: 60000
    limits: {max_entries: 100000000, max_transfer_bytes: 4294967296}
feed_service:
  state_directory: $2
YAML
}
field() { python3 -c "import json,sys; print(json.load(open('$1/bench.json'))['$2'])"; }

# ---- 1. AXFR into an empty store ----
echo
echo "== 1. AXFR of $N names into an empty store (sekisho-feed --once; the feed's time, trigger to commit)"
declare -A AXFR_RATE
run_axfr() {  # label binary round
  local dir="$WORK/axfr-$1-$3"
  mkdir -p "$dir"
  feed_config "$dir/store" "$dir/state" > "$dir/sekisho.yaml"
  local before; before=$(load)
  SEKISHO_STORE_TIMING=1 timeout 600 /usr/bin/time -f "$TIME_FMT" "$2" --config "$dir/sekisho.yaml" --once \
    2> "$dir/log" || { tail -20 "$dir/log"; exit 1; }
  local ms; ms=$(field "$dir/state" last_duration_ms)
  local rate=$(( N * 1000 / (ms > 0 ? ms : 1) ))
  AXFR_RATE[$1]="${AXFR_RATE[$1]:-} $rate"
  printf '  %-4s round %d: %7d ms = %8d names/s; %s; load %s -> %s\n' "$1" "$3" "$ms" "$rate" \
    "$(grep -o 'transfer_ms=[0-9]*' "$dir/log")" "$before" "$(load)"
  echo "        $(tail -1 "$dir/log")"
  echo "        phases:$(grep -o '\(feed\|write\) phase [a-z]*: [0-9.]*' "$dir/log" | sed 's/ phase / /; s/$/ s;/' | tr '\n' ' ')"
  rm -rf "$dir"
}
for r in $(seq 1 "$ROUNDS"); do
  [ -n "${OLD_FEED:-}" ] && run_axfr old "$OLD_FEED" "$r"
  run_axfr new "$FEED" "$r"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
NEW_RATE=$(echo "${AXFR_RATE[new]}" | median)
echo "  sekisho-feed (median of $ROUNDS): $NEW_RATE names/s"
[ -n "${OLD_FEED:-}" ] && echo "  previous build (median): $(echo "${AXFR_RATE[old]}" | median) names/s"

# ---- 2. Unbound and Knot Resolver loading the same RPZ ----
answered() {  # port: the zone's last name answered NXDOMAIN (the RPZ applied)
  kdig @127.0.0.1 -p "$1" "$LAST" A +time=1 +retry=0 2>/dev/null | grep -q 'status: NXDOMAIN'
}
peer() {  # name, port, command...: seconds from start to the first answer applying the RPZ
  local name=$1 port=$2; shift 2
  local t0; t0=$(date +%s.%N)
  "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  local ok=0 deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if answered "$port"; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  local rss; rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo "?")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$ok" = 1 ]; then
    local s; s=$(echo "$t1 - $t0" | bc)
    local rate; rate=$(echo "$N / $s" | bc)
    printf '  %-14s %6.2f s to answer from the zone = %8d names/s, peak RSS %s MiB; sekisho-feed / %s = %s\n' \
      "$name" "$s" "$rate" "$rss" "$name" "$(echo "scale=2; $NEW_RATE / $rate" | bc)"
  else
    echo "  $name: no answer applying the zone within 120 s; its log:"; tail -5 "$WORK/$name.log"
  fi
}
if [ "$PEERS" = 1 ]; then
  echo
  echo "== 2. the same zone file loaded by Unbound and Knot Resolver (load $(load))"
  UPORT=$(free_port)
  cat > "$WORK/unbound.conf" <<CONF
server:
  interface: 127.0.0.1@$UPORT
  port: $UPORT
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$WORK"
  pidfile: ""
  use-syslog: no
  logfile: ""
  num-threads: 1
  module-config: "respip iterator"
rpz:
  name: rpz.bench.
  zonefile: "$WORK/rpz.bench.zone.1"
CONF
  peer unbound "$UPORT" /usr/sbin/unbound -d -c "$WORK/unbound.conf"
  if [ -x /usr/sbin/kresd ]; then
    KPORT=$(free_port)
    mkdir -p "$WORK/kresd"
    cat > "$WORK/kresd.conf" <<CONF
net.listen('127.0.0.1', $KPORT, { kind = 'dns' })
cache.size = 10 * MB
policy.add(policy.rpz(policy.DENY, '$WORK/rpz.bench.zone.1', false))
CONF
    peer knot-resolver "$KPORT" /usr/sbin/kresd -n -q -c "$WORK/kresd.conf" "$WORK/kresd"
  else
    echo "  knot-resolver: /usr/sbin/kresd not installed (apt-get install knot-resolver; .ci/setup does)"
  fi
fi

# ---- 3. IXFR of K names into a store of STORE_N entries, sekishod under dnsperf ----
[ "$STORE_N" -gt 0 ] || exit 0
echo
echo "== 3. IXFR of $K changed names into a store of $STORE_N entries while sekishod serves $QPS qps"
S="$WORK/serve"
mkdir -p "$S"
FILL=$(( STORE_N > N ? STORE_N - N : 0 ))
python3 - "$FILL" > "$S/filler.txt" <<'PY'
import sys
w = sys.stdout.write
for i in range(int(sys.argv[1])):
    w("fill%d.f%d.example\n" % (i, i % 5000))
PY
t0=$(date +%s.%N)
timeout 900 "$CLI" db --db "$S/store" import --source filler --format domains --category ads --quiet "$S/filler.txt" \
  > "$S/import.log" 2>&1 || { tail "$S/import.log"; exit 1; }
rm -f "$S/filler.txt"
echo "  filler: $FILL names imported in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s"
feed_config "$S/store" "$S/state" > "$S/feed.yaml"
timeout 600 "$FEED" --config "$S/feed.yaml" --once 2> "$S/axfr.log" || { tail "$S/axfr.log"; exit 1; }
echo "  feed's AXFR on top: $(field "$S/state" last_duration_ms) ms; store: $("$CLI" db --db "$S/store" stats | grep -i -m1 'entries')"
DPORT=$(free_port)
cat > "$S/sekishod.yaml" <<YAML
server:
  threads: 1
  listen:
    dns: ["127.0.0.1:$DPORT"]
upstreams: [127.0.0.1:$PORT]
category_db: $S/store
blockpage: {ipv4: 192.0.2.10, ttl: 60}
tenants: [{id: bench, networks: [127.0.0.0/8], policy: p}]
policies: {p: {block: [malware, ads], action: nxdomain}}
YAML
"$SEKISHOD" --config "$S/sekishod.yaml" > "$S/sekishod.log" 2>&1 &
SPID=$!
PIDS+=($SPID)
for _ in $(seq 1 200); do answered "$DPORT" && break; sleep 0.1; done
answered "$DPORT" || { echo "sekishod does not answer"; tail "$S/sekishod.log"; exit 1; }
# Queries: names the store holds (the feed's and the filler's), answered from the store.
python3 - "$N" "$FILL" > "$S/queries.txt" <<'PY'
import random, sys
n, fill = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(7)
for _ in range(200000):
    if fill and r.random() < 0.5:
        i = r.randrange(fill); print("fill%d.f%d.example A" % (i, i % 5000))
    else:
        i = r.randrange(n); print("host%d.bad%d.example A" % (i, i % 1000))
PY
dnsload() {  # label: dnsperf for LOAD_S s at QPS; prints lost and latency percentiles
  timeout $((LOAD_S + 30)) dnsperf -s 127.0.0.1 -p "$DPORT" -d "$S/queries.txt" -l "$LOAD_S" -Q "$QPS" -c 4 -v \
    > "$S/dnsperf-$1.txt" 2>&1 || true
  python3 - "$S/dnsperf-$1.txt" "$1" <<'PY'
import sys
lat, lost, sent = [], None, None
for line in open(sys.argv[1]):
    if line.startswith("> "):
        parts = line.split()
        if parts[1] != "T":
            lat.append(float(parts[-1]))
    elif "Queries lost:" in line:
        lost = int(line.split()[2])
    elif "Queries sent:" in line:
        sent = int(line.split()[2])
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6 if lat else float("nan")
print("  %-13s sent %s, lost %s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us" %
      (sys.argv[2], sent, lost, p(0.5), p(0.99), p(0.999), lat[-1] * 1e6 if lat else float("nan")))
open(sys.argv[1] + ".p99", "w").write("%f\n" % p(0.99))
PY
}
echo "  load before: $(load)"
dnsload baseline
# The new serial: K names changed (K/2 removed, K/2 added), served by knotd as an IXFR.
zone 2 "$K" > "$WORK/zones/rpz.bench.zone"
/usr/sbin/knotc -s "$WORK/knot.sock" zone-reload rpz.bench > /dev/null
for _ in $(seq 1 600); do
  kdig @127.0.0.1 -p "$PORT" rpz.bench SOA +short 2>/dev/null | grep -q " 2 3600 " && break
  sleep 0.1
done
# At nice 10, as systemd/sekisho-feed.service runs it.
( sleep 1; SEKISHO_STORE_TIMING=1 timeout 120 nice -n 10 ${FEED_WRAP:-} "$FEED" --config "$S/feed.yaml" --once 2> "$S/ixfr.log" ) &
FEEDJOB=$!
dnsload during-ixfr
wait "$FEEDJOB" || { echo "the IXFR failed:"; tail "$S/ixfr.log"; exit 1; }
echo "  IXFR: $(field "$S/state" last_transfer) in $(field "$S/state" last_duration_ms) ms ($(grep -o 'transfer_ms=[0-9]*' "$S/ixfr.log"))"
echo "        phases:$(grep -o '\(feed\|write\) phase [a-z]*: [0-9.]*' "$S/ixfr.log" | sed 's/ phase / /; s/$/ s;/' | tr '\n' ' ')"
dnsload after
echo "  p99 during the IXFR / without: $(echo "scale=2; $(cat "$S/dnsperf-during-ixfr.txt.p99") / $(cat "$S/dnsperf-baseline.txt.p99")" | bc)"
echo "  load at the end: $(load)"
if kdig @127.0.0.1 -p "$DPORT" new0.s2.example A +time=1 2>/dev/null | grep -q 'status: NXDOMAIN'; then
  echo "  sekishod blocks a name the IXFR added (new0.s2.example)"
else
  echo "  WARNING: sekishod does not block new0.s2.example after the IXFR"
fi
