// Where an inspected origin may be reached: its A and AAAA records from the configured
// upstreams (sekishod's upstreams, asked directly, so sekishod's filtering — which sent the
// client here — does not apply), minus addresses that are not public unicast unless
// intercept.allow_private covers them. Never an open proxy: only these addresses are dialled.
//
// The lookups go through the project's upstream client (resolver/upstream/client.h) on the
// intercept's own loop: A and AAAA asked at once, each with the `forwarding` rules sekishod
// uses (attempts over the upstreams by health, per-attempt timeout, TC=1 retried over TCP), so a
// lookup in progress holds no thread and never delays other clients.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/settings.h"
#include "net/address.h"
#include "resolver/upstream/client.h"

namespace sekisho::intercept {

// True when `addr` (4 or 16 bytes) is not a public unicast address: loopback, RFC 1918, CGNAT,
// link-local, unique-local, multicast, unspecified, documentation ranges.
bool non_public_address(int family, const uint8_t* addr);

struct OriginAddresses {
  std::vector<net::SocketAddress> addresses;  // IPv4 first, then IPv6; port set
  uint32_t ttl = 0;                           // smallest TTL of the records used
  std::string why;                            // when empty: what went wrong, for the 502
};

// The addresses of one answer to `type` (A or AAAA) that may be dialled, appended to `out` with
// `port` set: the records of that type in the answer section (those of the CNAME chain's final
// name, as a resolver returns them). A refused address sets `out.why`, naming it; `out.ttl`
// takes the smallest TTL of the answer's records of that type when any address is kept.
void add_answer_addresses(std::span<const uint8_t> msg, size_t question_end, uint16_t type, const std::string& host,
                          uint16_t port, const std::vector<config::NetworkSettings>& allow_private, OriginAddresses& out);

// Resolves origins on one loop, caching answers for their TTL (at most 5 minutes); lookups of
// one host and port in progress at once are shared. Only touched from its loop.
class OriginResolver {
 public:
  using Callback = std::function<void(const OriginAddresses&)>;

  OriginResolver(uv_loop_t* loop, const std::vector<config::UpstreamSettings>& upstreams,
                 const config::ForwardingSettings& forwarding, std::vector<config::NetworkSettings> allow_private);
  ~OriginResolver();  // lookups in progress are dropped: their callbacks are never called

  // `done` gets the host's addresses (or why there are none): before resolve() returns when the
  // cache has them or there is no upstream, else from the loop once the lookup ends.
  void resolve(const std::string& host, uint16_t port, Callback done);

  size_t lookups_in_progress() const { return lookups_.size(); }

  struct Lookup;  // origin_address.cc

 private:
  struct Cached {
    OriginAddresses result;
    uint64_t expires_ms = 0;
  };
  void answered(const std::string& key, uint16_t type, const upstream::ClientAnswer& answer);

  upstream::Client client_;
  std::vector<config::NetworkSettings> allow_private_;
  std::map<std::string, Cached> cache_;                      // by "host|port"
  std::map<std::string, std::unique_ptr<Lookup>> lookups_;  // by "host|port"
};

}  // namespace sekisho::intercept
