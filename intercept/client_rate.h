// A rate per client (net/client_key.h: an IPv4 address or an IPv6 /64), for work a client can
// make the intercept do on its one loop: minting a leaf certificate (a key generation, a
// signature and an fsync) for each new SNI name. Random subdomains of a blocked subtree from one
// client are each a new name; without a limit one client keeps the loop minting and fills the
// disk cache with single-use leaves (574 a second were measured before).
//
// A token bucket per client (base/token_bucket.h). The table is bounded: past kMaxClients,
// clients whose bucket is full again (they have spent nothing lately, so forgetting them changes
// nothing) are dropped; if every client is still spending, the table is cleared, which at worst
// gives each a fresh burst — still bounded work, counted. Keys hash with the process's key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "base/token_bucket.h"
#include "net/address.h"
#include "net/client_key.h"

namespace sekisho::intercept {

class ClientRate {
 public:
  static constexpr size_t kMaxClients = 65536;

  // `per_second` 0: no limit (take() always true).
  ClientRate(uint32_t per_second, uint32_t burst) : per_second_(per_second), burst_(burst ? burst : 1) {}

  // One unit of work for `peer`'s client now: true when within its rate.
  bool take(const net::SocketAddress& peer, uint64_t now_ms);

  size_t clients() const { return buckets_.size(); }

 private:
  uint32_t per_second_;
  uint32_t burst_;
  std::unordered_map<net::ClientKey, base::TokenBucket, net::ClientKeyHash> buckets_;
};

}  // namespace sekisho::intercept
