#include "intercept/client_rate.h"

namespace sekisho::intercept {

bool ClientRate::take(const net::SocketAddress& peer, uint64_t now_ms) {
  if (per_second_ == 0) return true;
  const net::ClientKey key = net::client_key(peer);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxClients) {
      std::erase_if(buckets_, [now_ms](auto& kv) { return kv.second.full(now_ms); });
      if (buckets_.size() >= kMaxClients) buckets_.clear();
    }
    it = buckets_.emplace(key, base::TokenBucket(per_second_, burst_, now_ms)).first;
  }
  return it->second.take(1, now_ms);
}

}  // namespace sekisho::intercept
