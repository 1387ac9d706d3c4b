#include "net/per_address_limit.h"

#include <netinet/in.h>

#include <cstring>

#include "base/keyed_hash.h"

namespace sekisho::net {
namespace {

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

PerAddressLimit::PerAddressLimit() : open_(64) {}

size_t PerAddressLimit::Hash::operator()(const Key& k) const {
  const uint64_t words[2] = {k.bits, static_cast<uint64_t>(k.family)};
  return static_cast<size_t>(base::keyed_hash(words, sizeof words));
}

PerAddressLimit::Key PerAddressLimit::key_of(const SocketAddress& peer) {
  Key k;
  if (peer.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer.storage);
    k.family = AF_INET;
    k.bits = ntohl(in->sin_addr.s_addr);
  } else if (peer.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer.storage);
    const uint8_t* b = in6->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      k.family = AF_INET;
      k.bits = (uint64_t{b[12]} << 24) | (uint64_t{b[13]} << 16) | (uint64_t{b[14]} << 8) | b[15];
    } else {
      k.family = AF_INET6;
      k.bits = load_be64(b);
    }
  }
  return k;
}

bool PerAddressLimit::acquire(const SocketAddress& peer, uint32_t limit) {
  const Key k = key_of(peer);
  std::lock_guard lock(mutex_);
  uint32_t& n = open_[k];
  if (limit != 0 && n >= limit) return false;  // n > 0 here: the entry existed, nothing to erase
  ++n;
  return true;
}

void PerAddressLimit::release(const SocketAddress& peer) {
  const Key k = key_of(peer);
  std::lock_guard lock(mutex_);
  auto it = open_.find(k);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

uint32_t PerAddressLimit::open(const SocketAddress& peer) const {
  const Key k = key_of(peer);
  std::lock_guard lock(mutex_);
  auto it = open_.find(k);
  return it == open_.end() ? 0 : it->second;
}

size_t PerAddressLimit::clients() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

}  // namespace sekisho::net
