#!/usr/bin/env bash
# bench/pipeline/run.sh [BUILD_DIR] [QUERIES]: instructions per query of run_query on each
# pipeline_bench workload, counted by callgrind over the measured batches only (deterministic,
# unlike the wall clock on a shared machine). Needs valgrind.
set -euo pipefail
build=${1:-build}
queries=${2:-64000}
bin=$build/bench/pipeline/pipeline_bench
[ -x "$bin" ] || { echo "no $bin: cmake --build $build --target pipeline_bench" >&2; exit 2; }
BENCH_TAG=bench-pipeline BUILD_DIR=$build
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"  # for bench_machine; its EXIT trap is replaced below
bench_machine
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-12s %12s %10s\n' workload queries Ir/query
for w in ${WORKLOADS:-hit hit_tenant hit_tenant_nolog blocked monitored}; do
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/$w.out" "$bin" "$w" "$queries" \
    >"$out/$w.log" 2>&1 || { cat "$out/$w.log" >&2; exit 1; }
  measured=$(sed -n 's/.* queries=\([0-9]*\) .*/\1/p' "$out/$w.log")
  ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out/$w.out")
  printf '%-12s %12s %10.1f\n' "$w" "$measured" "$(echo "$ir / $measured" | bc -l)"
done
