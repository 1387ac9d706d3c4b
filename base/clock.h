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

// Both clocks read together. A serving loop takes one reading when a receive batch begins
// (Worker::clock): every query of the batch had arrived by then, and what the stages need
// from the clock (schedule windows, cache TTLs, the log's timestamp) is far coarser than a
// batch lasts (well under a millisecond), so the hot path does not read clocks per stage.
struct ClockReading {
  uint64_t mono_us = 0;  // CLOCK_MONOTONIC
  int64_t wall_us = 0;   // CLOCK_REALTIME, µs since the Unix epoch

  static ClockReading now() {
    timespec mono, wall;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    return {static_cast<uint64_t>(mono.tv_sec) * 1000000 + static_cast<uint64_t>(mono.tv_nsec) / 1000,
            static_cast<int64_t>(wall.tv_sec) * 1000000 + wall.tv_nsec / 1000};
  }
  uint64_t mono_ms() const { return mono_us / 1000; }
  int64_t wall_seconds() const { return wall_us >= 0 ? wall_us / 1000000 : -((-wall_us + 999999) / 1000000); }
  // The wall time at a later monotonic instant: one clock read instead of two.
  int64_t wall_us_at(uint64_t later_mono_us) const {
    return wall_us + static_cast<int64_t>(later_mono_us - mono_us);
  }
};

}  // namespace sekisho
