#!/usr/bin/env bash
# bench/filter/run.sh: the filtering benchmark (issue 4).  sekishod with a 10M-entry
# category store and a blocking policy, against Unbound blocking 1M names with
# local-zone always_null, against sekishod with filtering off, and against the null
# responder; one core each, in one run.  See bench/filter/README.md.
#
#   bench/filter/run.sh [--quick] [--setup-only DIR]
#     --quick           smoke: 100k store, 20k Unbound zones, 1 round of 2 s
#     --setup-only DIR  prepare the store and write every workload's files into DIR,
#                       start nothing (tests/e2e/test_store_cli.py runs this with --quick)
# Environment: FILTER_N=10000000 store names, UNBOUND_N=1000000 Unbound local zones,
#   FILTER_BLOCKED=10000 blocked names queried, FILTER_WORKLOADS="filter blocked",
#   BUILD_DIR, and everything bench/run.sh reads (here BENCH_SECONDS=2, BENCH_ROUNDS=9, ...).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=$(dirname "$here")
repo=$(dirname "$bench")
BUILD_DIR=${BUILD_DIR:-$repo/build}
export BUILD_DIR

quick=0 setup_only=""
while (( $# )); do
    case $1 in
    --quick) quick=1 ;;
    --setup-only) setup_only=${2:?--setup-only needs a directory}; shift ;;
    *) echo "usage: $0 [--quick] [--setup-only DIR]" >&2; exit 2 ;;
    esac
    shift
done
if (( quick )); then
    FILTER_N=${FILTER_N:-100000} UNBOUND_N=${UNBOUND_N:-20000} FILTER_BLOCKED=${FILTER_BLOCKED:-1000}
    BENCH_SECONDS=${BENCH_SECONDS:-2} BENCH_ROUNDS=${BENCH_ROUNDS:-1} BENCH_NAMES=${BENCH_NAMES:-500}
fi
FILTER_N=${FILTER_N:-10000000}
UNBOUND_N=${UNBOUND_N:-1000000}
FILTER_BLOCKED=${FILTER_BLOCKED:-10000}
(( UNBOUND_N >= FILTER_BLOCKED )) || { echo "UNBOUND_N must be at least FILTER_BLOCKED" >&2; exit 2; }

store_bench=$BUILD_DIR/bench/store/store_bench
cli=${SEKISHO_CLI:-$BUILD_DIR/admin/sekisho}
for tool in "$store_bench" "$cli"; do
    [[ -x $tool ]] || { echo "$tool not found (build first: cmake --build $BUILD_DIR)" >&2; exit 1; }
done

if [[ -n $setup_only ]]; then
    mkdir -p "$setup_only"
    FILTER_DIR=$(cd "$setup_only" && pwd)
else
    FILTER_DIR=$(mktemp -d /tmp/sekisho-filter-bench.XXXXXX)
    trap 'rm -rf "$FILTER_DIR"' EXIT
fi
export FILTER_DIR FILTER_BLOCKED
log() { printf '[filter] %s\n' "$*" >&2; }

# Every step is bounded: a wedged step fails the run instead of hanging it.
log "store: $FILTER_N synthetic names (bench/store generator) + $FILTER_BLOCKED blocked names"
t0=$EPOCHREALTIME
timeout 600 "$store_bench" gen "$FILTER_N" "$FILTER_DIR/names.txt"
awk -v k="$FILTER_BLOCKED" 'BEGIN { for (j = 0; j < k; j++) printf "b%d.bench.example\n", j }' >"$FILTER_DIR/blocked.txt"
timeout 900 "$cli" db --db "$FILTER_DIR/store" import --quiet --source synthetic --format domains \
    --category ads "$FILTER_DIR/names.txt" >&2
timeout 300 "$cli" db --db "$FILTER_DIR/store" import --quiet --source blocklist --format domains \
    --category malware "$FILTER_DIR/blocked.txt" >&2
log "store ready in $(awk -v a="$t0" -v z="$EPOCHREALTIME" 'BEGIN { printf "%.1f", z - a }') s," \
    "$(du -sm "$FILTER_DIR/store" | cut -f1) MiB on disk"

# Unbound blocks the queried names plus synthetic ones, UNBOUND_N zones in all.
# (The generator repeats some names: distinct ones are counted.)
awk -v n="$UNBOUND_N" '!seen[$1]++ { printf "local-zone: \"%s.\" always_null\n", $1; if (++k == n) exit }' \
    "$FILTER_DIR/blocked.txt" "$FILTER_DIR/names.txt" >"$FILTER_DIR/local-zones.conf"
log "unbound: $(wc -l <"$FILTER_DIR/local-zones.conf") local zones"
rm -f "$FILTER_DIR/names.txt"

export BENCH_WORKLOAD_FILES="$here/workloads.sh"
export BENCH_WORKLOADS=${FILTER_WORKLOADS:-filter blocked}
export BENCH_SERVERS=${BENCH_SERVERS:-null unbound sekishod sekishod_nolog sekishod_off_log sekishod_off}
# Short rounds, many of them: the ratios are medians of per-round ratios, and the servers of a
# round run seconds apart, so the VM's drift moves them together.
export BENCH_SECONDS=${BENCH_SECONDS:-2} BENCH_ROUNDS=${BENCH_ROUNDS:-9}
export BENCH_READY_SECONDS=${BENCH_READY_SECONDS:-120}   # Unbound parses its local zones first
[[ -n ${BENCH_NAMES:-} ]] && export BENCH_NAMES
if [[ -n $setup_only ]]; then
    BENCH_SETUP_ONLY=$FILTER_DIR "$bench/run.sh"
    exit
fi
"$bench/run.sh"
