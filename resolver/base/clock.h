// Clocks for the data plane. The coarse monotonic clock is a vDSO read (no syscall) with a
// few milliseconds of resolution: plenty for TTLs measured in seconds.
#pragma once

#include <time.h>

#include <cstdint>

namespace sekisho {

inline uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Precise monotonic microseconds (also a vDSO read, ~20 ns): for per-query latency, which is
// mostly far below a millisecond.
inline uint64_t monotonic_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace sekisho
