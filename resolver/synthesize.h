// Stage 3b, synthesize: the answers sekisho makes up itself for blocked names, per the
// policy's action, each carrying an Extended DNS Error that says which rule decided.
//   blockpage: A/AAAA → the block-page address (0.0.0.0 / :: when none is configured),
//              other types → NODATA
//   nxdomain / nodata: with an SOA whose MINIMUM is blockpage.ttl, so clients cache the
//              negative answer as long as a block-page answer (RFC 2308)
//   refused:   REFUSED
#pragma once

#include <cstdint>
#include <span>

#include "admin/config/settings.h"
#include "resolver/decode.h"
#include "resolver/dns/edns.h"

namespace sekisho::resolver {

size_t write_blocked(const DecodedQuery& q, config::BlockAction action, const config::BlockpageSettings& blockpage,
                     const dns::Ede& ede, std::span<uint8_t> out, size_t limit);

}  // namespace sekisho::resolver
