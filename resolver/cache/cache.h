// The answer cache shared by all event loops.
//
// Concurrency: hits take no lock and write nothing shared. The cache is set-associative: a
// key's hash picks one set of 8-15 ways, each way a tag word and a pointer to an immutable
// Entry. A reader scans the set's tags, follows the pointer whose tag matches and checks the
// whole key (a stale tag only costs a miss). Writers (cache misses, already waiting on the
// network) build the new Entry outside any lock, then take the set's lock stripe, swap the
// pointer in and retire the old Entry, which read_epoch frees once no loop can still hold it
// (the loops read inside a read section per batch of queries). The one write a hit may make
// is the Entry's "referenced" bit, and only when it changes.
//
// Eviction: CLOCK within the set (a referenced entry gets a second chance, a dead one goes
// first). A full set evicts even when another set has room; with 8 or more ways per set that
// keeps hit rates close to a global CLOCK, which would need a shared structure every hit
// touches.
//
// Lifetime of an entry: fresh until stored + ttl; then, when serve-stale is on, usable only
// as a fallback (RFC 8767) until stored + ttl + serve_stale; after that it is dead and CLOCK
// reclaims it first.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>

#include "resolver/cache/answer.h"
#include "resolver/cache/cache_key.h"
#include "resolver/cache/read_epoch.h"

namespace sekisho::cache {

enum class Freshness { miss, fresh, stale };

struct CacheStats {
  uint64_t entries = 0;
  uint64_t evictions = 0;
};

class Cache {
 public:
  Cache(uint64_t max_entries, uint32_t serve_stale_seconds);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // Calls use(answer, age_seconds) when the key has a usable entry; `answer` is valid only
  // during the call. With allow_stale, an expired entry inside the serve-stale window is
  // offered too. Allocates nothing and takes no lock (see read_epoch.h for the one exception).
  template <typename Use>
  Freshness find(const CacheKey& key, uint64_t now_ms, bool allow_stale, Use&& use) const;

  // Stores (or replaces) the answer for key. Answers with ttl == 0 are not stored.
  void insert(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms);

  void set_serve_stale(uint32_t seconds) { serve_stale_ms_.store(uint64_t{seconds} * 1000, std::memory_order_relaxed); }
  CacheStats stats() const;
  uint64_t capacity() const { return capacity_; }

 private:
  // One allocation: the key's bytes follow the struct, so a hit reads no separate key block.
  struct Entry {
    uint64_t hash = 0;
    uint64_t stored_ms = 0;
    uint64_t fresh_until_ms = 0;
    mutable std::atomic<bool> referenced{false};
    uint16_t key_length = 0;
    CachedAnswer answer;
    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_length}; }
  };
  // Writers' lock stripe and the entries its writers retired.
  struct alignas(64) Stripe {
    std::mutex mutex;
    read_epoch::RetireList retired;
  };
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };

  static constexpr unsigned kWays = 8;
  static uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) | 1u; }  // 0: empty way
  size_t set_of(uint64_t hash) const { return static_cast<size_t>(((hash & 0xffffffffu) * sets_) >> 32); }
  size_t first_way(size_t set) const { return set * stride_; }
  unsigned ways_of(size_t set) const { return ways_ + (set < wide_sets_ ? 1u : 0u); }
  Stripe& stripe_of(size_t set) const { return stripes_[set & stripe_mask_]; }
  // Writers' read of a way (under its stripe): through atomic_ref too, as readers access it so.
  Entry* way_entry(size_t i) const { return std::atomic_ref<Entry*>(entries_[i]).load(std::memory_order_relaxed); }
  template <typename Use>
  Freshness find_in_set(size_t set, const CacheKey& key, uint64_t now_ms, bool allow_stale, Use& use) const;
  unsigned choose_victim(size_t set, uint64_t now_ms);
  static Entry* make_entry(const CacheKey& key, const CachedAnswer& answer, uint64_t now_ms);
  static void free_entry(void* p);  // also RetireList's deleter

  uint64_t capacity_;
  size_t sets_;
  unsigned ways_;      // ways of a set; the first wide_sets_ sets have one more
  size_t wide_sets_;   // capacity = sets * ways + wide_sets, so max_entries is used exactly
  unsigned stride_;    // ways_ + 1 when some sets are wide
  // calloc'd: untouched pages of a large, mostly empty cache cost no memory. Accessed through
  // std::atomic_ref: readers race with writers by design.
  std::unique_ptr<uint32_t[], FreeDeleter> tags_;
  std::unique_ptr<Entry*[], FreeDeleter> entries_;
  std::unique_ptr<uint8_t[], FreeDeleter> hands_;  // CLOCK hand of each set (under its stripe)
  uint64_t stripe_mask_;
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> serve_stale_ms_;
};

template <typename Use>
Freshness Cache::find_in_set(size_t set, const CacheKey& key, uint64_t now_ms, bool allow_stale, Use& use) const {
  const size_t first = first_way(set);
  const unsigned ways = ways_of(set);
  const uint32_t tag = tag_of(key.hash);
  for (unsigned i = 0; i < ways; ++i) {
    if (std::atomic_ref<uint32_t>(tags_[first + i]).load(std::memory_order_relaxed) != tag) continue;
    const Entry* e = std::atomic_ref<Entry*>(entries_[first + i]).load();
    if (!e || e->hash != key.hash || e->key() != key.view()) continue;
    Freshness f;
    if (now_ms < e->fresh_until_ms) {
      f = Freshness::fresh;
    } else if (allow_stale && now_ms < e->fresh_until_ms + serve_stale_ms_.load(std::memory_order_relaxed)) {
      f = Freshness::stale;
    } else {
      return Freshness::miss;
    }
    // Only write the shared bit when it changes: a hit should not bounce the cache line.
    if (!e->referenced.load(std::memory_order_relaxed)) e->referenced.store(true, std::memory_order_relaxed);
    // Another loop may have stored the entry after this caller read its clock: age 0, not a wrap.
    use(e->answer, now_ms > e->stored_ms ? static_cast<uint32_t>((now_ms - e->stored_ms) / 1000) : 0u);
    return f;
  }
  return Freshness::miss;
}

template <typename Use>
Freshness Cache::find(const CacheKey& key, uint64_t now_ms, bool allow_stale, Use&& use) const {
  const size_t set = set_of(key.hash);
  read_epoch::ReadSection section;
  if (section.lock_free()) return find_in_set(set, key, now_ms, allow_stale, use);
  std::lock_guard lock(stripe_of(set).mutex);
  return find_in_set(set, key, now_ms, allow_stale, use);
}

}  // namespace sekisho::cache
