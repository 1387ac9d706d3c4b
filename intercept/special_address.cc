#include "intercept/special_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace sekisho::intercept {
namespace {

using Embeds = SpecialRange::Embeds;

// The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, as updated to RFC 9602,
// RFC 9637 and RFC 9780), plus multicast and the reserved space of the address-space registries.
// Every block is refused, also those the registry marks globally reachable (AS112, AMT,
// ORCHIDv2, the TURN/PCP anycasts): none is where a web origin lives. Order matters only where
// blocks nest: the first match names the address.
constexpr SpecialRange kTable[] = {
    {"0.0.0.0/8", "\"this network\" (RFC 791, RFC 1122)"},
    {"10.0.0.0/8", "private use (RFC 1918)"},
    {"100.64.0.0/10", "shared address space / CGNAT (RFC 6598)"},
    {"127.0.0.0/8", "loopback (RFC 1122)"},
    {"169.254.0.0/16", "link-local (RFC 3927)"},
    {"172.16.0.0/12", "private use (RFC 1918)"},
    {"192.0.0.0/24", "IETF protocol assignments (RFC 6890)"},
    {"192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"},
    {"192.31.196.0/24", "AS112-v4 (RFC 7535)"},
    {"192.52.193.0/24", "AMT (RFC 7450)"},
    {"192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"},
    {"192.168.0.0/16", "private use (RFC 1918)"},
    {"192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"},
    {"198.18.0.0/15", "benchmarking (RFC 2544)"},
    {"198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"},
    {"203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"},
    {"224.0.0.0/4", "multicast (RFC 5771)"},
    {"255.255.255.255/32", "limited broadcast (RFC 919)"},
    {"240.0.0.0/4", "reserved (RFC 1112)"},

    {"::/128", "unspecified address (RFC 4291)"},
    {"::1/128", "loopback (RFC 4291)"},
    {"::ffff:0:0/96", "IPv4-mapped address (RFC 4291)", Embeds::v4_last_32_bits},
    {"::/96", "IPv4-compatible address, deprecated (RFC 4291)"},
    {"64:ff9b::/96", "NAT64 well-known prefix (RFC 6052)", Embeds::v4_last_32_bits},
    {"64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"},
    {"100::/64", "discard-only (RFC 6666)"},
    {"100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"},
    {"2001::/32", "Teredo (RFC 4380)"},
    {"2001:2::/48", "benchmarking (RFC 5180)"},
    {"2001::/23", "IETF protocol assignments (RFC 2928): AMT, AS112-v6, ORCHID, drone remote ID, anycasts"},
    {"2001:db8::/32", "documentation (RFC 3849)"},
    {"2002::/16", "6to4 (RFC 3056)", Embeds::v4_after_16_bits},
    {"2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"},
    {"3fff::/20", "documentation (RFC 9637)"},
    {"5f00::/16", "segment routing SIDs (RFC 9602)"},
    {"fc00::/7", "unique-local (RFC 4193)"},
    {"fe80::/10", "link-local (RFC 4291)"},
    {"fec0::/10", "site-local, deprecated (RFC 3879)"},
    {"ff00::/8", "multicast (RFC 4291)"},
    // The rest of IPv6 outside global unicast 2000::/3 is reserved by the IETF (RFC 4291 §2.4).
    {"::/3", "reserved IPv6 space outside global unicast 2000::/3 (RFC 4291)"},
    {"4000::/2", "reserved IPv6 space outside global unicast 2000::/3 (RFC 4291)"},
    {"8000::/1", "reserved IPv6 space outside global unicast 2000::/3 (RFC 4291)"},
};

// The table with `text` parsed; a spelling that does not parse is a bug found by the first call
// (every test runs it), so it aborts rather than refusing or admitting addresses silently.
std::vector<SpecialRange> parse_table() {
  std::vector<SpecialRange> out(std::begin(kTable), std::end(kTable));
  for (SpecialRange& r : out) {
    const std::string text(r.text);
    const size_t slash = text.find('/');
    const std::string address = text.substr(0, slash);
    r.family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    const int bits = std::atoi(text.c_str() + slash + 1);
    if (slash == std::string::npos || inet_pton(r.family, address.c_str(), r.prefix) != 1 || bits < 0 ||
        bits > (r.family == AF_INET ? 32 : 128))
      std::abort();
    r.length = static_cast<uint8_t>(bits);
  }
  return out;
}

const SpecialRange* first_match(int family, const uint8_t* addr) {
  for (const SpecialRange& r : special_ranges())
    if (r.family == family && prefix_matches(r.prefix, r.length, addr)) return &r;
  return nullptr;
}

}  // namespace

bool prefix_matches(const uint8_t* prefix, unsigned bits, const uint8_t* addr) {
  for (unsigned i = 0; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((addr[i] & mask) != (prefix[i] & mask)) return false;
  }
  return true;
}

std::span<const SpecialRange> special_ranges() {
  static const std::vector<SpecialRange> table = parse_table();
  return table;
}

AddressCheck check_address(int family, const uint8_t* addr) {
  AddressCheck c;
  const SpecialRange* r = first_match(family, addr);
  if (!r || r->embeds == Embeds::nothing) {
    c.refused_by = r;
    return c;
  }
  c.embedding = r;
  std::memcpy(c.embedded_v4, addr + (r->embeds == Embeds::v4_last_32_bits ? 12 : 2), 4);
  c.refused_by = first_match(AF_INET, c.embedded_v4);
  return c;
}

}  // namespace sekisho::intercept
