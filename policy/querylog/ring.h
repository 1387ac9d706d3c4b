// policy/querylog/ring.h — bounded single-producer / single-consumer ring of QueryRecord.
//
// Concurrency contract: exactly one producer thread (the event loop that owns the ring) calls
// try_push, and exactly one consumer thread (the QueryLogWriter) calls pop_batch or consume. dropped(),
// size_approx() and capacity() may be called from any thread.
//
// Invariants: the slot array is allocated once in the constructor and never resized, so
// try_push neither allocates nor locks; when the ring is full the record is dropped and
// counted, never waited for (logging must not slow queries). Its only call out is the
// half-full hook, once each time the ring reaches half its capacity with the consumer not
// having moved since the last call (the writer wakes early instead of letting the ring fill). head_ and tail_
// are monotonically increasing 64-bit counters (they never wrap in practice); a slot index is
// counter & mask_. head_ is written only by the producer, tail_ only by the consumer, each on
// its own cache line so the two threads do not false-share.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "policy/querylog/record.h"

namespace sekisho::querylog {

class QueryLogRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit QueryLogRing(size_t capacity);
  QueryLogRing(const QueryLogRing&) = delete;
  QueryLogRing& operator=(const QueryLogRing&) = delete;

  // Producer only. Returns false (and counts a drop) when the ring is full. Copies
  // record_bytes(record): a slot's qname bytes past qname_len are left as they were.
  bool try_push(const QueryRecord& record) noexcept;
  // Before the producer starts: `hook(context)` runs on the producer's thread when the ring
  // reaches half its capacity (see the invariants). It must not block.
  void on_half_full(void (*hook)(void*), void* context) {
    half_full_hook_ = hook;
    half_full_context_ = context;
  }

  // Consumer only. Copies up to `max` of the oldest records into `out`; returns how many.
  size_t pop_batch(QueryRecord* out, size_t max) noexcept;

  // Consumer only. Hands up to `max` of the oldest records to `f` where they lie, as one or
  // two contiguous spans (two when they wrap around the end of the slot array), in order, then
  // frees their slots; returns how many. Saves the writer a copy of every record. `f` must not
  // keep the spans; if it throws, the records stay in the ring.
  template <class F>
  size_t consume(size_t max, F&& f) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    const auto n = static_cast<size_t>(std::min<uint64_t>(head - tail, max));
    if (n == 0) return 0;
    const size_t start = static_cast<size_t>(tail) & mask_;
    const size_t first = std::min(n, mask_ + 1 - start);
    f(std::span<const QueryRecord>(slots_.get() + start, first));
    if (first < n) f(std::span<const QueryRecord>(slots_.get(), n - first));
    tail_.store(tail + n, std::memory_order_release);  // see ring.cc for the ordering argument
    return n;
  }

  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  size_t capacity() const noexcept { return mask_ + 1; }
  // Records pushed but not yet popped; exact only when neither side is running.
  size_t size_approx() const noexcept;

 private:
  static constexpr size_t kCacheLine = 64;

  const size_t mask_;
  const std::unique_ptr<QueryRecord[]> slots_;

  // Producer's line: its counter, its cached view of tail_ (saves an acquire load of the
  // consumer's line on every push while there is room), and the drop counter it alone writes.
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  std::atomic<uint64_t> dropped_{0};
  uint64_t hooked_at_tail_ = ~uint64_t{0};  // tail_ when the hook last ran
  void (*half_full_hook_)(void*) = nullptr;
  void* half_full_context_ = nullptr;

  // Consumer's line.
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  char pad_[kCacheLine - sizeof(std::atomic<uint64_t>)] = {};
};

}  // namespace sekisho::querylog
