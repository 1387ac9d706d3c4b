// One client, as the per-client limits count it: an IPv4 address or an IPv6 /64 (what one
// subscriber is usually given, so a client cannot evade a limit by cycling through its own
// addresses); IPv4-mapped IPv6 addresses count as the IPv4 address they carry (a dual-stack
// listener sees IPv4 clients that way). Tables keyed by it hash with the process's SipHash key
// (base/keyed_hash.h), so a client cannot pick addresses whose entries collide.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/address.h"

namespace sekisho::net {

struct ClientKey {
  uint64_t bits = 0;  // the IPv4 address, or the IPv6 /64 prefix
  int family = 0;
  bool operator==(const ClientKey&) const = default;
};

ClientKey client_key(const SocketAddress& peer);

struct ClientKeyHash {
  size_t operator()(const ClientKey& k) const;
};

}  // namespace sekisho::net
