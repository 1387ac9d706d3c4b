// Where an inspected origin may be reached: its A and AAAA records from the configured
// upstreams (sekishod's upstreams, asked directly, so sekishod's filtering — which sent the
// client here — does not apply), minus addresses of the special-purpose registries
// (special_address.h) unless intercept.allow_private covers them. Never an open proxy: only these addresses are dialled.
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

struct OriginAddresses {
  std::vector<net::SocketAddress> addresses;  // IPv4 first, then IPv6; port set
  uint32_t ttl = 0;                           // smallest TTL of the records used
  std::string why;                            // when empty: what went wrong, for the 502
};

// The addresses of one answer to `type` (A or AAAA) that may be dialled, appended to `out` with
// `port` set: the class IN records of that type in the answer section owned by the question's
// name or by a name its CNAME chain leads to (the answer's question was checked against ours —
// name, type, class, ID — by the upstream client). An address in a special-purpose block
// (special_address.h) is refused unless `allow_private` covers it, or covers the IPv4 address it
// embeds; a refused address sets `out.why`, naming it and the block. `out.ttl` takes the
// smallest TTL of the records of that type used when any address is kept.
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
