#include "resolver/upstream/inflight_registry.h"

namespace sekisho::upstream {

InflightRegistry::Claim InflightRegistry::claim(const cache::CacheKey& key, unsigned loop) {
  Shard& shard = shard_for(key.hash);
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.entries.try_emplace(key.hash);
  if (inserted) {
    it->second.key.assign(key.view());
    it->second.owner = loop;
    return Claim::owner;
  }
  if (it->second.key != key.view() || it->second.owner == loop || loop >= 64) return Claim::unshared;
  it->second.joined |= uint64_t{1} << loop;
  return Claim::joined;
}

uint64_t InflightRegistry::release(const cache::CacheKey& key) {
  Shard& shard = shard_for(key.hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key.hash);
  if (it == shard.entries.end() || it->second.key != key.view()) return 0;
  uint64_t joined = it->second.joined;
  shard.entries.erase(it);
  return joined;
}

}  // namespace sekisho::upstream
