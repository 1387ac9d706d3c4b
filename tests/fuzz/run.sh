#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# usage: tests/fuzz/run.sh [seconds-per-target]   (default 60; CI uses a short run)
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in clang++ clang; do
  if ! command -v "$tool" >/dev/null; then
    echo "fuzz: $tool not found: the fuzz targets are built with clang/clang++ (.ci/setup installs clang)" >&2
    exit 1
  fi
done
build="${SEKISHO_FUZZ_BUILD:-$root/build-fuzz}"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DSEKISHO_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target decode_fuzz config_fuzz
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in decode_fuzz config_fuzz; do
  corpus="$work/${target%_fuzz}"
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/${target%_fuzz}/"* "$corpus/" 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=4096 -timeout=5 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
done
echo "fuzz: no crash in any target"
