#!/usr/bin/env bash
# bench/feed/run.sh — RPZ feed transfer speed: sekisho-feed loading an RPZ of N names from a real
# knotd by AXFR (names/s), then applying an IXFR that changes K names (seconds), each as the
# feed measures it (its status file: from the trigger to the commit). Loopback only.
#
#   bench/feed/run.sh [N=1000000] [K=10000]      (BUILD=build by default)
#
# Not a test: prints figures. The store is written under a temporary directory, removed at exit.
set -euo pipefail
N=${1:-1000000}
K=${2:-10000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
FEED=$BUILD/feed/sekisho-feed
[ -x "$FEED" ] || { echo "build sekisho-feed first ($FEED)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/sekisho-feed-bench.XXXXXX)
KNOT_PID=
cleanup() { [ -n "$KNOT_PID" ] && kill "$KNOT_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

SECRET=$(head -c 32 /dev/urandom | base64)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/zones" "$WORK/db"
python3 - "$N" > "$WORK/zones/rpz.bench.zone" <<'PY'
import sys
n = int(sys.argv[1])
print("$ORIGIN rpz.bench.\n$TTL 300\n@ SOA ns.rpz.bench. admin.rpz.bench. 1 3600 600 86400 60\n@ NS localhost.")
w = sys.stdout.write
for i in range(n):
    w("host%d.bad%d.example CNAME .\n" % (i, i % 1000))
PY
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
KNOT_PID=$!
for _ in $(seq 1 600); do
  kdig @127.0.0.1 -p "$PORT" rpz.bench SOA +short 2>/dev/null | grep -q . && break
  sleep 0.1
done
echo "$SECRET" > "$WORK/key"
cat > "$WORK/sekisho.yaml" <<YAML
server:
  listen:
    dns: ["127.0.0.1:0"]
upstreams: [127.0.0.1:53]
category_db: $WORK/store
feeds:
  - name: bench
    primary: "127.0.0.1:$PORT"
    zone: rpz.bench
    tsig: {name: bench-key, secret_file: $WORK/key}
    categories: [malware]
    timeout_ms: 60000
    limits: {max_entries: 100000000}
feed_service:
  state_directory: $WORK/state
YAML
field() { python3 -c "import json,sys; print(json.load(open('$WORK/state/bench.json'))['$1'])"; }

/usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB max RSS" "$FEED" --config "$WORK/sekisho.yaml" --once 2> "$WORK/axfr.log" || { cat "$WORK/axfr.log"; exit 1; }
MS=$(field last_duration_ms)
echo "AXFR: $N names in ${MS} ms = $(( N * 1000 / (MS > 0 ? MS : 1) )) names/s  ($(tail -1 "$WORK/axfr.log"))"
echo "      $(field last_transfer); $(grep -o 'transfer_ms=[0-9]*' "$WORK/axfr.log")"

# K names change in one serial (K/2 removed, K/2 added): a new zone file that knotd diffs against
# the zone it serves (zonefile-load: difference), so the change is a journal entry served by IXFR.
python3 - "$N" "$K" > "$WORK/zones/rpz.bench.zone" <<'PY'
import sys
n, k = int(sys.argv[1]), int(sys.argv[2])
print("$ORIGIN rpz.bench.\n$TTL 300\n@ SOA ns.rpz.bench. admin.rpz.bench. 2 3600 600 86400 60\n@ NS localhost.")
w = sys.stdout.write
for i in range(k // 2, n):
    w("host%d.bad%d.example CNAME .\n" % (i, i % 1000))
for i in range(k // 2):
    w("new%d.example CNAME .\n" % i)
PY
/usr/sbin/knotc -s "$WORK/knot.sock" zone-reload rpz.bench > /dev/null
for _ in $(seq 1 600); do
  kdig @127.0.0.1 -p "$PORT" rpz.bench SOA +short 2>/dev/null | grep -q " 2 3600 " && break
  sleep 0.1
done
/usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB max RSS" "$FEED" --config "$WORK/sekisho.yaml" --once 2> "$WORK/ixfr.log" || { cat "$WORK/ixfr.log"; exit 1; }
echo "IXFR: $(field last_transfer) in $(field last_duration_ms) ms, $(grep -o 'transfer_ms=[0-9]*' "$WORK/ixfr.log")  ($(tail -1 "$WORK/ixfr.log"))"
