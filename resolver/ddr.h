// DDR, Discovery of Designated Resolvers (RFC 9462): a client that asks its (plain DNS)
// resolver for `_dns.resolver.arpa` SVCB learns this server's encrypted endpoints and can
// upgrade to DoH or DoT on its own. sekishod answers these queries itself; they are never
// forwarded, cached or filtered.
//
// Answer for qtype SVCB, TTL kDdrTtl, one record per encrypted protocol (RFC 9461):
//   1 {public_name} alpn=h2 port={doh port} [ipv4hint] [ipv6hint] dohpath=/dns-query{?dns}
//   2 {public_name} alpn=dot port={dot port} [ipv4hint] [ipv6hint]
// port is the first listen address's port (listeners on other ports are not advertised);
// the hints are the specific (not wildcard) addresses listening on that port. Without
// server.public_name (clients must verify the certificate against a name) or without any
// DoH/DoT listener, and for any other qtype, the answer is NODATA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "config/settings.h"
#include "resolver/decode.h"

namespace sekisho::resolver {

inline constexpr uint32_t kDdrTtl = 300;  // short: a reload may change the endpoints

// The question is `_dns.resolver.arpa` (any case, any type, class IN).
bool is_ddr_query(const DecodedQuery& q);

// Writes the DDR answer for q (write_synthesized: an answer above `limit` goes out without
// records). Allocates nothing. Returns the length written, 0 when `out` is too small.
size_t write_ddr(const DecodedQuery& q, const config::ServerSettings& server, std::span<uint8_t> out, size_t limit);

}  // namespace sekisho::resolver
