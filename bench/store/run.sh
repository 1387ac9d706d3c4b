#!/usr/bin/env bash
# bench/store/run.sh — category store benchmark: 10M synthetic names + the real lists, then
# import rate, size on disk, open time, RSS, lookup rate/p99 (with the real lists as a delta, and
# after `sekisho db compact`), memory latency, and Unbound with 1M local-zones.
# Usage: bench/store/run.sh [BUILD_DIR]   (env: N=10000000, UNBOUND_N=1000000, LOOKUP_SECONDS=3,
#        LOOKUP_CPU=1: the core the lookup runs are pinned to)
# Loopback only; every step is bounded with timeout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${1:-$repo/build}"
bench="${STORE_BENCH:-$build/bench/store/store_bench}"
data="$repo/../shared/data"
N="${N:-10000000}"
UNBOUND_N="${UNBOUND_N:-1000000}"
secs="${LOOKUP_SECONDS:-3}"
cpu="${LOOKUP_CPU:-1}"
[ -x "$bench" ] || { echo "store_bench not found at $bench (build first)" >&2; exit 1; }
BENCH_TAG=bench-store BUILD_DIR=$build
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"  # for bench_machine; its EXIT trap is replaced below
bench_machine
work="$(mktemp -d /tmp/sekisho-store-bench.XXXXXX)"
ub_pid=""
cleanup() { [ -n "$ub_pid" ] && kill "$ub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
db="$work/categories"

echo "== generating $N synthetic names"
timeout 600 "$bench" gen "$N" "$work/names.txt"
echo "== import"
t0=$(date +%s.%N)
SEKISHO_STORE_TIMING=1 timeout 1800 "$bench" import "$db" synthetic domains ads "$work/names.txt"
if [ -d "$data" ]; then
  timeout 600 "$bench" import "$db" ut1 ut1 - "$data/ut1"
  timeout 600 "$bench" import "$db" urlhaus domains malware "$data/urlhaus/urlhaus-filter-domains.txt"
  timeout 600 "$bench" import "$db" drugs hosts drugs "$data/blocklistproject/drugs.hosts"
  timeout 600 "$bench" import "$db" tiuxo hosts adult "$data/tiuxo/porn.hosts"
  timeout 600 "$bench" import "$db" agdns adblock ads "$data/adblock/adguard-dns-filter-2017.txt"
fi
t1=$(date +%s.%N)
echo "total import wall time: $(echo "$t1 - $t0" | bc) s"
size_kib=$(du -sk "$db" | cut -f1)
echo "size on disk: $((size_kib / 1024)) MiB"

echo "== open (fresh process, 5 runs)"
best_open=""; rss_open=""
for i in 1 2 3 4 5; do
  line=$(timeout 60 "$bench" open "$db"); echo "  $line"
  ms=$(echo "$line" | awk '{print $2}'); rss=$(echo "$line" | awk '{print $6}')
  if [ -z "$best_open" ] || (( $(echo "$ms < $best_open" | bc) )); then best_open=$ms; fi
  rss_open=$rss
done
echo "== lookups (one core: CPU $cpu; 3-5 label mix; label = lookup index one name at a time,"
echo "   batch = lookup_domains over 64 names, btree = per-label B-tree descents)"
for mix in uniform skewed; do
  for strat in label batch; do
    timeout 600 taskset -c "$cpu" "$bench" lookup "$db" "$work/names.txt" "$secs" "$strat" "$mix"
  done
done
timeout 600 taskset -c "$cpu" "$bench" lookup "$db" "$work/names.txt" "$secs" btree uniform
timeout 600 taskset -c "$cpu" "$bench" lookup "$db" "$work/names.txt" "$secs" seek uniform
timeout 60 taskset -c "$cpu" "$bench" memlat
if [ -d "$data" ]; then
  # The real lists went into a delta over the synthetic base: every candidate of a lookup is
  # checked against it too. `sekisho db compact` (what an admin runs after feed updates) folds
  # it into one base.
  cli="${SEKISHO_CLI:-$build/admin/sekisho}"
  echo "== compact (sekisho db compact), then lookups again"
  timeout 600 "$cli" db --db "$db" compact
  for mix in uniform skewed; do
    for strat in label batch; do
      timeout 600 taskset -c "$cpu" "$bench" lookup "$db" "$work/names.txt" "$secs" "$strat" "$mix"
    done
  done
fi

echo "== unbound with $UNBOUND_N local-zone always_null"
if command -v unbound >/dev/null; then
  port=$(( 20000 + RANDOM % 20000 ))
  conf="$work/unbound.conf"
  {
    echo "server:"
    echo "  interface: 127.0.0.1"
    echo "  port: $port"
    echo "  do-daemonize: no"
    echo "  chroot: \"\""
    echo "  username: \"\""
    echo "  directory: \"$work\""
    echo "  pidfile: \"$work/unbound.pid\""
    echo "  use-syslog: no"
    echo "  num-threads: 1"
    echo "  do-ip6: no"
    echo "  local-zone: \"probe.sekisho.test.\" always_null"
    head -n "$UNBOUND_N" "$work/names.txt" | sort -u | awk '{print "  local-zone: \"" $1 ".\" always_null"}'
    echo "remote-control:"
    echo "  control-enable: no"
  } > "$conf"
  t0=$(date +%s.%N)
  timeout 300 unbound -d -c "$conf" >"$work/unbound.log" 2>&1 &
  ub_pid=$!
  up=""
  for _ in $(seq 1 3000); do
    if dig +time=1 +tries=1 @127.0.0.1 -p "$port" probe.sekisho.test A >/dev/null 2>&1 &&
       dig +time=1 +tries=1 @127.0.0.1 -p "$port" probe.sekisho.test A | grep -q "status: NOERROR"; then
      up=1; break
    fi
    sleep 0.05
  done
  t1=$(date +%s.%N)
  if [ -n "$up" ]; then
    ub_start=$(echo "$t1 - $t0" | bc)
    ub_pid_real=$(pgrep -P "$ub_pid" -x unbound || echo "$ub_pid")
    ub_rss=$(awk '/VmRSS/{print $2}' "/proc/$ub_pid_real/status" 2>/dev/null || echo 0)
    [ "$ub_rss" = 0 ] && ub_rss=$(awk '/VmRSS/{print $2}' "/proc/$ub_pid/status")
    echo "unbound start-up until first answer: ${ub_start} s, RSS $((ub_rss / 1024)) MiB"
    echo "ratio start-up unbound/sekisho-open: $(echo "scale=0; $ub_start * 1000 / $best_open" | bc)x"
    echo "ratio RSS unbound/sekisho-open: $(echo "scale=1; $ub_rss / $rss_open" | bc)x"
  else
    echo "unbound did not answer within the time bound"; tail -5 "$work/unbound.log"
  fi
fi
