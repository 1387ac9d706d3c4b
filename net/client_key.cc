#include "net/client_key.h"

#include <netinet/in.h>

#include "base/keyed_hash.h"

namespace sekisho::net {
namespace {

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

ClientKey client_key(const SocketAddress& peer) {
  ClientKey k;
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

size_t ClientKeyHash::operator()(const ClientKey& k) const {
  const uint64_t words[2] = {k.bits, static_cast<uint64_t>(k.family)};
  return static_cast<size_t>(base::keyed_hash(words, sizeof words));
}

}  // namespace sekisho::net
