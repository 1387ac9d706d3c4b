#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# usage: tests/fuzz/run.sh [seconds-per-target]   (default 60; CI uses a short run)
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The fuzz targets live in the ASan/UBSan tree (tests/sanitize/build.sh asan): CI's fuzz.smoke
# points SEKISHO_FUZZ_BUILD at the tree its sanitize.asan entries use; by hand it is build-fuzz/.
build="${SEKISHO_FUZZ_BUILD:-$root/build-fuzz}"
targets=(decode_fuzz config_fuzz http_fuzz import_fuzz url_fuzz)
"$root/tests/sanitize/build.sh" asan "$build" "${targets[@]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  corpus="$work/${target%_fuzz}"
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/${target%_fuzz}/"* "$corpus/" 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=4096 -timeout=5 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
done
echo "fuzz: no crash in any target"
