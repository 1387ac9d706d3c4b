// The answer cache shared by all event loops.
//
// Concurrency: the key space is split into shards, each behind its own reader/writer lock.
// A hit takes the shard's lock shared and only sets an atomic "referenced" bit (CLOCK
// eviction), so hits from different loops never wait on each other. Inserts (cache misses,
// already waiting on the network) take the shard's lock exclusively.
//
// Lifetime of an entry: fresh until stored + ttl; then, when serve-stale is on, usable only
// as a fallback (RFC 8767) until stored + ttl + serve_stale; after that it is dead and CLOCK
// reclaims it first.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "resolver/cache/answer.h"
#include "resolver/cache/cache_key.h"

namespace sekisho::cache {

enum class Freshness { miss, fresh, stale };

struct CacheStats {
  uint64_t entries = 0;
  uint64_t evictions = 0;
};

class Cache {
 public:
  Cache(uint64_t max_entries, uint32_t serve_stale_seconds);

  // Calls use(answer, age_seconds) under the shard's shared lock when the key has a usable
  // entry. With allow_stale, an expired entry inside the serve-stale window is offered too.
  // Allocates nothing.
  template <typename Use>
  Freshness find(const CacheKey& key, uint64_t now_ms, bool allow_stale, Use&& use) const;

  // Stores (or replaces) the answer for key. Answers with ttl == 0 are not stored.
  void insert(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms);

  void set_serve_stale(uint32_t seconds) { serve_stale_ms_.store(uint64_t{seconds} * 1000, std::memory_order_relaxed); }
  CacheStats stats() const;
  uint64_t capacity() const { return capacity_; }

 private:
  struct Slot {
    std::atomic<bool> referenced{false};
    bool used = false;
    uint64_t hash = 0;
    std::string key;
    uint64_t stored_ms = 0;
    uint64_t fresh_until_ms = 0;
    CachedAnswer answer;
  };
  struct Shard {
    mutable std::shared_mutex mutex;
    std::unordered_map<uint64_t, uint32_t> index;  // hash → slot; a 64-bit hash collision is a miss
    std::deque<Slot> slots;                        // deque: slots never move, atomics need that
    size_t clock_hand = 0;
    uint64_t evictions = 0;
  };

  Shard& shard_for(uint64_t hash) const { return shards_[hash & shard_mask_]; }
  uint32_t take_slot(Shard& shard, uint64_t now_ms);

  uint64_t capacity_;
  size_t per_shard_capacity_;
  uint64_t shard_mask_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> serve_stale_ms_;
};

template <typename Use>
Freshness Cache::find(const CacheKey& key, uint64_t now_ms, bool allow_stale, Use&& use) const {
  Shard& shard = shard_for(key.hash);
  std::shared_lock lock(shard.mutex);
  auto it = shard.index.find(key.hash);
  if (it == shard.index.end()) return Freshness::miss;
  const Slot& slot = shard.slots[it->second];
  if (slot.key != key.view()) return Freshness::miss;
  Freshness f;
  if (now_ms < slot.fresh_until_ms) {
    f = Freshness::fresh;
  } else if (allow_stale && now_ms < slot.fresh_until_ms + serve_stale_ms_.load(std::memory_order_relaxed)) {
    f = Freshness::stale;
  } else {
    return Freshness::miss;
  }
  // Only write the shared bit when it changes: a hit should not bounce the cache line.
  auto& ref = const_cast<std::atomic<bool>&>(slot.referenced);
  if (!ref.load(std::memory_order_relaxed)) ref.store(true, std::memory_order_relaxed);
  // Another loop may have stored the entry after this caller read its clock: age 0, not a wrap.
  use(slot.answer, now_ms > slot.stored_ms ? static_cast<uint32_t>((now_ms - slot.stored_ms) / 1000) : 0u);
  return f;
}

}  // namespace sekisho::cache
