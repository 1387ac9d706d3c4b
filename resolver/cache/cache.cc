#include "resolver/cache/cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

namespace sekisho::cache {
namespace {
constexpr uint64_t kMaxStripes = 64;
// Retired entries are freed in groups: each reclaim scans every reader's epoch.
constexpr size_t kReclaimEvery = 32;

template <typename T>
T* zeroed_array(size_t n) {
  void* p = std::calloc(n, sizeof(T));
  if (!p) throw std::bad_alloc();
  return static_cast<T*>(p);
}
}  // namespace

Cache::Cache(uint64_t max_entries, uint32_t serve_stale_seconds)
    : capacity_(std::max<uint64_t>(max_entries, 1)), serve_stale_ms_(uint64_t{serve_stale_seconds} * 1000) {
  // Sets of kWays..2*kWays-1 ways; a cache smaller than two sets is one set of its own size
  // (CLOCK over all of it).
  sets_ = static_cast<size_t>(std::max<uint64_t>(1, capacity_ / kWays));
  ways_ = static_cast<unsigned>(capacity_ / sets_);
  wide_sets_ = static_cast<size_t>(capacity_ % sets_);
  stride_ = ways_ + (wide_sets_ ? 1u : 0u);
  const size_t slots = sets_ * stride_;
  tags_.reset(zeroed_array<uint32_t>(slots));
  entries_.reset(zeroed_array<Entry*>(slots));
  hands_.reset(zeroed_array<uint8_t>(sets_));
  const uint64_t stripes = std::bit_floor(std::min<uint64_t>(sets_, kMaxStripes));
  stripe_mask_ = stripes - 1;
  stripes_ = std::make_unique<Stripe[]>(stripes);
}

Cache::~Cache() {
  // No reader is left when the cache goes (the loops have stopped): free directly.
  for (size_t i = 0, n = sets_ * stride_; i < n; ++i)
    if (Entry* e = way_entry(i)) free_entry(e);
}

// CLOCK within the set: an empty way first, then from the hand on, a dead entry or one not
// referenced since the hand last passed; referenced ones lose their bit and are passed over.
unsigned Cache::choose_victim(size_t set, uint64_t now_ms) {
  const size_t first = first_way(set);
  const unsigned ways = ways_of(set);
  for (unsigned i = 0; i < ways; ++i)
    if (!way_entry(first + i)) return i;
  const uint64_t stale_ms = serve_stale_ms_.load(std::memory_order_relaxed);
  uint8_t& hand = hands_[set];
  for (unsigned scanned = 0;; ++scanned) {
    const unsigned i = hand;
    hand = static_cast<uint8_t>((hand + 1) % ways);
    const Entry* e = way_entry(first + i);
    const bool dead = now_ms >= e->fresh_until_ms + stale_ms;
    if (!dead && e->referenced.load(std::memory_order_relaxed) && scanned < 2 * ways) {
      e->referenced.store(false, std::memory_order_relaxed);
      continue;
    }
    return i;
  }
}

void Cache::insert(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms) {
  if (answer.ttl == 0) return;
  // Built outside the lock: the copy is most of an insert's work.
  Entry* fresh = make_entry(key, answer, now_ms);

  const size_t set = set_of(key.hash);
  const size_t first = first_way(set);
  const unsigned ways = ways_of(set);
  const uint32_t tag = tag_of(key.hash);
  Stripe& stripe = stripe_of(set);
  std::lock_guard lock(stripe.mutex);
  unsigned way = ways;
  for (unsigned i = 0; i < ways; ++i) {
    const Entry* e = way_entry(first + i);
    if (e && e->hash == key.hash) {  // refresh in place (or replace a 64-bit hash collision)
      way = i;
      break;
    }
  }
  if (way == ways) way = choose_victim(set, now_ms);
  Entry* old = way_entry(first + way);
  // Pointer first, tag second: a reader that pairs the new tag with the old entry, or the
  // reverse, finds the key differs and misses.
  std::atomic_ref<Entry*>(entries_[first + way]).store(fresh);
  std::atomic_ref<uint32_t>(tags_[first + way]).store(tag, std::memory_order_relaxed);
  if (!old) {
    count_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (old->hash != key.hash) evictions_.fetch_add(1, std::memory_order_relaxed);
  stripe.retired.retire(old, free_entry);
  if (stripe.retired.waiting() >= kReclaimEvery) stripe.retired.reclaim();
}

CacheStats Cache::stats() const {
  return CacheStats{count_.load(std::memory_order_relaxed), evictions_.load(std::memory_order_relaxed)};
}

Cache::Entry* Cache::make_entry(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms) {
  Entry* e = new (::operator new(sizeof(Entry) + key.length)) Entry();
  try {
    e->answer = answer;
  } catch (...) {
    free_entry(e);
    throw;
  }
  e->hash = key.hash;
  e->stored_ms = now_ms;
  e->fresh_until_ms = now_ms + uint64_t{answer.ttl} * 1000;
  e->key_length = key.length;
  std::memcpy(reinterpret_cast<char*>(e + 1), key.bytes, key.length);
  return e;
}

void Cache::free_entry(void* p) {
  auto* e = static_cast<Entry*>(p);
  e->~Entry();
  ::operator delete(p);
}

}  // namespace sekisho::cache
