#include "net/per_address_limit.h"

namespace sekisho::net {

PerAddressLimit::PerAddressLimit() : open_(64) {}

bool PerAddressLimit::acquire(const SocketAddress& peer, uint32_t limit) {
  const ClientKey k = client_key(peer);
  std::lock_guard lock(mutex_);
  uint32_t& n = open_[k];
  if (limit != 0 && n >= limit) return false;  // n > 0 here: the entry existed, nothing to erase
  ++n;
  return true;
}

void PerAddressLimit::release(const SocketAddress& peer) {
  const ClientKey k = client_key(peer);
  std::lock_guard lock(mutex_);
  auto it = open_.find(k);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

uint32_t PerAddressLimit::open(const SocketAddress& peer) const {
  const ClientKey k = client_key(peer);
  std::lock_guard lock(mutex_);
  auto it = open_.find(k);
  return it == open_.end() ? 0 : it->second;
}

size_t PerAddressLimit::clients() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

}  // namespace sekisho::net
