#!/usr/bin/env bash
# Configures and builds one sanitizer tree (README "Testing"; the ctest entries sanitize.* and
# fuzz.smoke of the plain tree run this, then the tests inside the tree):
#
#   tests/sanitize/build.sh asan DIR [TARGET...]   clang; AddressSanitizer + LeakSanitizer + UBSan,
#                                                  every report fatal; the libFuzzer targets too.
#                                                  Default target: all (what the e2e tests start).
#   tests/sanitize/build.sh tsan DIR [TARGET...]   ThreadSanitizer; default target sekisho_unit_all.
#
# One ASan tree serves the unit tests, the e2e tests and the fuzz targets, so CI compiles the
# project three times (plain, asan, tsan), not four. SEKISHO_COMPILER_LAUNCHER (e.g. ccache) is
# passed on as CMake's compiler launcher; CMAKE_BUILD_PARALLEL_LEVEL caps the build's jobs.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 asan|tsan DIR [TARGET...]" >&2
  exit 2
fi
kind="$1"
build="$2"
shift 2
root="$(cd "$(dirname "$0")/../.." && pwd)"

args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
      # Line tables are all a sanitizer report needs; full debug info of this much C++ would
      # take a good part of the build's time.
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
if [ -n "${SEKISHO_COMPILER_LAUNCHER:-}" ]; then
  args+=("-DCMAKE_C_COMPILER_LAUNCHER=$SEKISHO_COMPILER_LAUNCHER" "-DCMAKE_CXX_COMPILER_LAUNCHER=$SEKISHO_COMPILER_LAUNCHER")
fi
case "$kind" in
  asan)
    # clang: libFuzzer exists only there (.ci/setup installs clang and its runtimes).
    for tool in clang clang++; do
      if ! command -v "$tool" >/dev/null; then
        echo "sanitize: $tool not found: the ASan/UBSan tree and the fuzz targets are built with clang (.ci/setup installs it)" >&2
        exit 1
      fi
    done
    export CC=clang CXX=clang++
    args+=(-DSEKISHO_SANITIZE=ON -DSEKISHO_FUZZ=ON)
    default_targets=(all)
    ;;
  tsan)
    args+=(-DSEKISHO_TSAN=ON)
    default_targets=(sekisho_unit_all)
    ;;
  *)
    echo "sanitize: unknown kind '$kind' (asan or tsan)" >&2
    exit 2
    ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${default_targets[@]}")

cmake "${args[@]}" >/dev/null
start=$(date +%s)
build_args=()
for t in "${targets[@]}"; do build_args+=(--target "$t"); done
cmake --build "$build" "${build_args[@]}"
echo "sanitize: $kind tree $build built (${targets[*]}) in $(( $(date +%s) - start )) s"
