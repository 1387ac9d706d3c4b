// Rate limits as the generic cell rate algorithm (GCRA, the "virtual scheduling" form of the
// ATM Forum's TM 4.0): a token bucket filling at `rate` per second and holding one second's
// worth, kept as one number, the theoretical arrival time `tat` of the next event at the steady
// rate. An event at `now` is admitted when max(tat, now) + 1/rate is no more than a second
// ahead of now, and then moves tat there. One word of state and no refill step: a table entry
// stays small, a shared bucket is one compare-and-swap, and an entry whose tat has passed holds
// nothing a fresh one would not (so a table may reuse it freely).
//
// Times are nanoseconds of a monotonic clock, passed in: tests drive them by hand.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace sekisho::resolver::limits {

inline constexpr uint64_t kBurstNs = 1'000'000'000;  // the bucket holds one second of `rate`

inline uint64_t interval_ns(uint32_t rate) { return rate == 0 ? 0 : kBurstNs / rate; }

// Admits an event at `now_ns` under `rate` per second (rate > 0) and moves `tat`; false when the
// bucket is empty (tat is then unchanged: refused events do not dig the hole deeper).
inline bool gcra_admit(uint64_t& tat, uint64_t now_ns, uint32_t rate) {
  const uint64_t next = std::max(tat, now_ns) + interval_ns(rate);
  if (next - now_ns > kBurstNs) return false;
  tat = next;
  return true;
}

// The same on a bucket shared by several threads (one per tenant, every loop): lock-free, and
// touched only by the loops serving that tenant.
inline bool gcra_admit(std::atomic<uint64_t>& tat, uint64_t now_ns, uint32_t rate) {
  uint64_t seen = tat.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t next = std::max(seen, now_ns) + interval_ns(rate);
    if (next - now_ns > kBurstNs) return false;
    if (tat.compare_exchange_weak(seen, next, std::memory_order_relaxed)) return true;
  }
}

}  // namespace sekisho::resolver::limits
