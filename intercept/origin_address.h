// Where an inspected origin may be reached: its A and AAAA records from the configured
// upstreams (sekishod's upstreams, asked directly, so sekishod's filtering — which sent the
// client here — does not apply), minus addresses that are not public unicast unless
// intercept.allow_private covers them. Never an open proxy: only these addresses are dialled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/settings.h"
#include "net/address.h"

namespace sekisho::intercept {

// True when `addr` (4 or 16 bytes) is not a public unicast address: loopback, RFC 1918, CGNAT,
// link-local, unique-local, multicast, unspecified, documentation ranges.
bool non_public_address(int family, const uint8_t* addr);

struct OriginAddresses {
  std::vector<net::SocketAddress> addresses;  // IPv4 first, then IPv6; port set
  uint32_t ttl = 0;                           // smallest TTL of the records used
  std::string why;                            // when empty: what went wrong, for the 502
};

// Blocking (a few seconds at most): run it off the loop thread. Asks each upstream over UDP
// in turn until one answers; `timeout_ms` bounds each wait.
OriginAddresses resolve_origin(const std::string& host, uint16_t port, const std::vector<config::UpstreamSettings>& upstreams,
                               const std::vector<config::NetworkSettings>& allow_private, uint32_t timeout_ms);

}  // namespace sekisho::intercept
