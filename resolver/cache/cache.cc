#include "resolver/cache/cache.h"

#include <algorithm>
#include <bit>
#include <mutex>

namespace sekisho::cache {
namespace {
constexpr uint64_t kMaxShards = 64;
// CLOCK needs room to give hot entries their second chance: a shard of a handful of slots
// would evict a hot name as soon as a few cold ones land in it. Small caches get one shard.
constexpr uint64_t kMinEntriesPerShard = 1024;
}

Cache::Cache(uint64_t max_entries, uint32_t serve_stale_seconds)
    : capacity_(std::max<uint64_t>(max_entries, 1)), serve_stale_ms_(uint64_t{serve_stale_seconds} * 1000) {
  uint64_t shards = std::bit_floor(std::clamp<uint64_t>(capacity_ / kMinEntriesPerShard, 1, kMaxShards));
  shard_mask_ = shards - 1;
  per_shard_capacity_ = static_cast<size_t>(capacity_ / shards);
  shards_ = std::make_unique<Shard[]>(shards);
}

uint32_t Cache::take_slot(Shard& shard, uint64_t now_ms) {
  if (shard.slots.size() < per_shard_capacity_) {
    shard.slots.emplace_back();
    return static_cast<uint32_t>(shard.slots.size() - 1);
  }
  // CLOCK: a referenced slot gets a second chance; dead entries (past the stale window) go at once.
  const uint64_t stale_ms = serve_stale_ms_.load(std::memory_order_relaxed);
  for (size_t scanned = 0;; ++scanned) {
    size_t i = shard.clock_hand;
    shard.clock_hand = (shard.clock_hand + 1) % shard.slots.size();
    Slot& s = shard.slots[i];
    const bool dead = now_ms >= s.fresh_until_ms + stale_ms;
    if (!dead && s.referenced.load(std::memory_order_relaxed) && scanned < 2 * shard.slots.size()) {
      s.referenced.store(false, std::memory_order_relaxed);
      continue;
    }
    if (s.used) {
      shard.index.erase(s.hash);
      ++shard.evictions;
      s.used = false;
    }
    return static_cast<uint32_t>(i);
  }
}

void Cache::insert(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms) {
  if (answer.ttl == 0) return;
  Shard& shard = shard_for(key.hash);
  std::unique_lock lock(shard.mutex);
  uint32_t index;
  auto it = shard.index.find(key.hash);
  if (it != shard.index.end()) {
    index = it->second;  // refresh in place (or replace a 64-bit hash collision)
  } else {
    index = take_slot(shard, now_ms);
    shard.index.emplace(key.hash, index);
  }
  Slot& s = shard.slots[index];
  s.used = true;
  s.hash = key.hash;
  s.key.assign(key.view());
  s.stored_ms = now_ms;
  s.fresh_until_ms = now_ms + uint64_t{answer.ttl} * 1000;
  s.answer = answer;
  s.referenced.store(false, std::memory_order_relaxed);
}

CacheStats Cache::stats() const {
  CacheStats out;
  for (uint64_t i = 0; i <= shard_mask_; ++i) {
    std::shared_lock lock(shards_[i].mutex);
    out.entries += shards_[i].index.size();
    out.evictions += shards_[i].evictions;
  }
  return out;
}

}  // namespace sekisho::cache
