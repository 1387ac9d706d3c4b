// Connections open at once per client, shared by every loop of a process: the cap on
// connections per client address (server.tcp.max_connections_per_address).
//
// A client is net/client_key.h's: an IPv4 address or an IPv6 /64.
//
// Touched when a connection is accepted and when it closes, never per query: one mutex over a
// hash map is not contended at connection rates and is exact (a table of shared counting buckets
// would make unrelated clients share a count). The map's hash is seeded per process, so a client
// cannot pick addresses whose entries collide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "net/address.h"
#include "net/client_key.h"

namespace sekisho::net {

class PerAddressLimit {
 public:
  PerAddressLimit();
  PerAddressLimit(const PerAddressLimit&) = delete;
  PerAddressLimit& operator=(const PerAddressLimit&) = delete;

  // Counts one more connection from `peer` unless `limit` are open from its client already:
  // true when counted (release() it when the connection closes), false when refused.
  bool acquire(const SocketAddress& peer, uint32_t limit);
  void release(const SocketAddress& peer);

  uint32_t open(const SocketAddress& peer) const;  // connections counted for peer's client now
  size_t clients() const;                          // clients with at least one connection

 private:
  mutable std::mutex mutex_;
  std::unordered_map<ClientKey, uint32_t, ClientKeyHash> open_;
};

}  // namespace sekisho::net
