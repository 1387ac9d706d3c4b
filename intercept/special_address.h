// Which addresses an inspected origin must never be dialled at: every block of the IANA IPv4 and
// IPv6 Special-Purpose Address Registries (RFC 6890 and the RFCs that added to them), multicast,
// the reserved IPv4 class E, and in IPv6 everything outside global unicast 2000::/3 (RFC 4291
// §2.4: the rest is reserved, local or multicast). A DNS answer chooses what the intercept
// connects to, so a name resolving to 169.254.169.254, or to an IPv6 spelling that reaches it
// (NAT64, 6to4, IPv4-mapped), would make the intercept an open door into its own network.
//
// Three IPv6 forms carry an IPv4 address that is where the packet really goes; they are judged
// by that address: IPv4-mapped ::ffff:0:0/96 (the socket sends IPv4), the NAT64 well-known
// prefix 64:ff9b::/96 (RFC 6052: the translator dials the last 32 bits) and 6to4 2002::/16
// (RFC 3056: the relay tunnels to bits 16–47). Forms whose IPv4 address is not at a fixed place
// or that have no use for a web origin are refused whole: the local-use NAT64 prefix
// 64:ff9b:1::/48 (RFC 8215: the operator picks the embedding), Teredo 2001::/32 and the rest of
// 2001::/23, IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace sekisho::intercept {

struct SpecialRange {
  enum class Embeds : uint8_t { nothing, v4_last_32_bits, v4_after_16_bits };
  std::string_view text;            // "64:ff9b::/96": the one spelling of the block (parsed at start)
  std::string_view name;            // the registry's name for it, for messages
  Embeds embeds = Embeds::nothing;  // judged by its IPv4 address instead of refused
  int family = 0;                   // AF_INET or AF_INET6, from `text`
  uint8_t prefix[16] = {};          // network bytes (4 used for IPv4), from `text`
  uint8_t length = 0;               // prefix length in bits, from `text`
};

// Every range, in the order they are matched (a more specific block before the one holding it).
std::span<const SpecialRange> special_ranges();

struct AddressCheck {
  const SpecialRange* refused_by = nullptr;  // the block refusing the address; null: it may be dialled
  const SpecialRange* embedding = nullptr;   // the IPv6 form whose IPv4 address was judged, if any
  uint8_t embedded_v4[4] = {};               // that IPv4 address
};

// Judges `addr` (4 bytes for AF_INET, 16 for AF_INET6), embedded IPv4 addresses included.
AddressCheck check_address(int family, const uint8_t* addr);

// True when the first `bits` bits of `addr` equal those of `prefix` (network byte order).
bool prefix_matches(const uint8_t* prefix, unsigned bits, const uint8_t* addr);

}  // namespace sekisho::intercept
