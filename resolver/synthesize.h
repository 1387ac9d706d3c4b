// Stages 3b and 3c (pipeline.cc write_block, rewrite_safe_search): the answers sekisho makes up
// itself. Blocked names, per the policy's action, each carrying an Extended DNS Error that says
// which rule decided:
//   blockpage: A/AAAA → the block-page address (0.0.0.0 / :: when none is configured),
//              other types → NODATA
//   nxdomain / nodata: with an SOA whose MINIMUM is blockpage.ttl, so clients cache the
//              negative answer as long as a block-page answer (RFC 2308)
//   refused:   REFUSED
#pragma once

#include <cstdint>
#include <span>

#include "config/settings.h"
#include "resolver/cache/answer.h"
#include "resolver/decode.h"
#include "dns/edns.h"

namespace sekisho::resolver {

// RFC 8482 §4.2: ANY answered with one synthesized HINFO record, CPU "RFC8482" and an empty OS,
// instead of every RRset of the name (an amplifier's favourite question).
inline constexpr uint16_t kQtypeAny = 255;
inline constexpr uint32_t kMinimalAnyTtl = 3600;
size_t write_minimal_any(const DecodedQuery& q, std::span<uint8_t> out, size_t limit);

size_t write_blocked(const DecodedQuery& q, config::BlockAction action, const config::BlockpageSettings& blockpage,
                     const dns::Ede& ede, std::span<uint8_t> out, size_t limit);

// Safe search: the client's name answered as a CNAME to `target` followed by the answer
// records `a` holds for the target (as cached from asking upstream for the target). Records
// are re-encoded without compression, since `a`'s pointers refer to the target's message.
size_t write_rewritten(const DecodedQuery& q, std::span<const uint8_t> target, const cache::CachedAnswer& a,
                       uint32_t age, uint32_t cname_ttl, std::span<uint8_t> out, size_t limit);

}  // namespace sekisho::resolver
