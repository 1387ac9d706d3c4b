// policy/querylog/ring.cc — see ring.h for the SPSC contract.
//
// Ordering: the producer writes the slot, then publishes it with a release store of head_;
// the consumer's acquire load of head_ makes the slot contents visible. Symmetrically, the
// consumer copies slots out before its release store of tail_, and the producer's acquire load
// of tail_ guarantees those slots are no longer being read before it overwrites them.
#include "policy/querylog/ring.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sekisho::querylog {

QueryLogRing::QueryLogRing(size_t capacity)
    : mask_(std::bit_ceil(std::max<size_t>(capacity, 2)) - 1),
      // Value-initialised: touches every page now, not on the query path later.
      slots_(std::make_unique<QueryRecord[]>(mask_ + 1)) {}

bool QueryLogRing::try_push(const QueryRecord& record) noexcept {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t half = (mask_ + 1) / 2;
  if (head - cached_tail_ >= half) {  // half full as far as this thread knows: look again
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head - cached_tail_ > mask_) {
      // Only this thread writes dropped_: a load + store avoids a locked read-modify-write.
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    if (head - cached_tail_ >= half && half_full_hook_ && hooked_at_tail_ != cached_tail_) {
      hooked_at_tail_ = cached_tail_;
      half_full_hook_(half_full_context_);
    }
  }
  std::memcpy(static_cast<void*>(&slots_[head & mask_]), &record, record_bytes(record));
  head_.store(head + 1, std::memory_order_release);
  return true;
}

size_t QueryLogRing::pop_batch(QueryRecord* out, size_t max) noexcept {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  const size_t n = static_cast<size_t>(std::min<uint64_t>(head - tail, max));
  for (size_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
  tail_.store(tail + n, std::memory_order_release);
  return n;
}

size_t QueryLogRing::size_approx() const noexcept {
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const uint64_t head = head_.load(std::memory_order_acquire);
  return head >= tail ? static_cast<size_t>(head - tail) : 0;
}

}  // namespace sekisho::querylog
