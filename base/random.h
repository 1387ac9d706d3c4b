// Fast per-thread random numbers for query IDs (xoshiro256**), seeded from the kernel.
// Not shared between threads: each event loop owns one.
#pragma once

#include <sys/random.h>

#include <cstdint>

namespace sekisho {

class Random {
 public:
  Random() {
    if (getrandom(s_, sizeof s_, 0) != static_cast<ssize_t>(sizeof s_)) {
      // getrandom cannot fail for 32 bytes once the pool is initialised; keep a usable seed anyway.
      s_[0] = reinterpret_cast<uintptr_t>(this) | 1;
      s_[1] = 0x9E3779B97F4A7C15ull;
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  uint16_t next_u16() { return static_cast<uint16_t>(next() >> 48); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace sekisho
