#include "resolver/limits/response_rate_limit.h"

#include <arpa/inet.h>

#include <cstring>

#include "base/keyed_hash.h"
#include "dns/edns.h"
#include "dns/wire.h"
#include "resolver/limits/gcra.h"

namespace sekisho::resolver::limits {

ResponseKind classify_response(std::span<const uint8_t> answer) {
  if (answer.size() < dns::kHeaderSize) return ResponseKind::error;
  const dns::Header h = dns::read_header(answer);
  switch (h.rcode()) {
    case dns::Rcode::noerror: return h.ancount > 0 ? ResponseKind::positive : ResponseKind::nodata;
    case dns::Rcode::nxdomain: return ResponseKind::nxdomain;
    default: return ResponseKind::error;
  }
}

std::string_view kind_name(ResponseKind kind) {
  switch (kind) {
    case ResponseKind::positive: return "positive";
    case ResponseKind::nodata: return "nodata";
    case ResponseKind::nxdomain: return "nxdomain";
    case ResponseKind::error: return "error";
  }
  return "error";
}

RrlAction ResponseRateLimiter::check(const sockaddr* peer, ResponseKind kind, const RrlPolicy& policy, uint64_t now_ns) {
  if (policy.rate == 0) return RrlAction::send;
  const dns::ClientSubnet prefix = dns::client_subnet_of(peer, policy.v4_prefix, policy.v6_prefix);
  if (prefix.family == 0) return RrlAction::send;
  uint8_t material[3 + sizeof prefix.address];
  material[0] = prefix.family;
  material[1] = prefix.source_prefix;
  material[2] = static_cast<uint8_t>(kind);
  std::memcpy(material + 3, prefix.address, prefix.address_bytes());
  uint64_t key = base::keyed_hash(material, 3 + prefix.address_bytes());
  key |= 1;  // 0 marks a slot never used
  const size_t first = (key >> 1) & (kSlots - kWays);  // a group of kWays slots
  Entry* entry = nullptr;
  Entry* victim = &slots_[first];
  for (size_t i = 0; i < kWays; ++i) {
    Entry& e = slots_[first + i];
    if (e.key == key) {
      entry = &e;
      break;
    }
    if (e.tat < victim->tat) victim = &e;  // idle (tat passed) or closest to idle
  }
  if (!entry) {
    *victim = Entry{key, 0, 0};
    entry = victim;
  }
  if (gcra_admit(entry->tat, now_ns, policy.rate)) return RrlAction::send;
  ++entry->limited;
  return policy.slip != 0 && entry->limited % policy.slip == 0 ? RrlAction::slip : RrlAction::drop;
}

std::string prefix_text(const sockaddr* peer, uint8_t v4_prefix, uint8_t v6_prefix) {
  const dns::ClientSubnet prefix = dns::client_subnet_of(peer, v4_prefix, v6_prefix);
  if (prefix.family == 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  const bool v4 = prefix.family == 1;  // RFC 7871 FAMILY: 1 IPv4, 2 IPv6
  ::inet_ntop(v4 ? AF_INET : AF_INET6, prefix.address, text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix.source_prefix);
}

}  // namespace sekisho::resolver::limits
