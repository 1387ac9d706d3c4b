// Which loop is already asking an upstream for a key, so identical queries arriving on other
// loops wait for that answer instead of sending their own (coalescing across loops).
//
// Concurrency: sharded by key hash, each shard behind its own mutex. Only cache misses touch
// it (they already wait on the network), never cache hits.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "resolver/cache/cache_key.h"

namespace sekisho::upstream {

class InflightRegistry {
 public:
  enum class Claim {
    owner,       // nobody was asking: the caller asks upstream and must release() when done
    joined,      // another loop is asking: the caller waits for its announcement
    unshared,    // a different key with the same hash is in flight: ask alone, do not release
  };

  Claim claim(const cache::CacheKey& key, unsigned loop);
  // Ends the owner's entry; returns the loops that joined it (bit per loop index).
  uint64_t release(const cache::CacheKey& key);

 private:
  struct Entry {
    std::string key;
    unsigned owner = 0;
    uint64_t joined = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<uint64_t, Entry> entries;
  };
  static constexpr size_t kShards = 16;
  Shard& shard_for(uint64_t hash) { return shards_[hash % kShards]; }
  Shard shards_[kShards];
};

}  // namespace sekisho::upstream
