// Stage 8, respond: every answer a client gets is written here. The client's ID, RD bit and
// question (with its original letter case, RFC 1035 §7.1 / 0x20 clients) are echoed; an OPT
// record is added exactly when the client sent one; UDP answers that do not fit the client's
// limit are truncated to header + question + OPT with TC=1 (RFC 1035 §4.2.1, RFC 6891 §7).
#pragma once

#include <cstdint>
#include <span>

#include "resolver/cache/answer.h"
#include "resolver/decode.h"
#include "dns/edns.h"
#include "dns/types.h"

namespace sekisho::resolver {

// How a query reached us; also the index of WorkerCounters::queries.
using dns::Transport;
using dns::kTransportCount;

// Largest answer we send to this client over `transport`: over UDP the client's EDNS payload
// capped at our 1232, or 512 without EDNS; over the stream transports (TCP, DoT, DoH) the
// 65535 limit of the TCP length prefix and of RFC 8484's message size.
size_t answer_limit(const DecodedQuery& q, Transport transport);

// TTL given to stale answers (RFC 8767 §4 recommends 30 seconds).
constexpr uint32_t kStaleTtl = 30;

// Writes an error answer (no records). Returns the length written (0 if `out` is too small).
size_t write_error(const DecodedQuery& q, dns::Rcode rcode, const dns::Ede* ede, std::span<uint8_t> out, size_t limit);

// Writes an answer we made up (block answers): `rrs` holds pre-encoded records, `ancount` of
// them for the answer section followed by `nscount` for the authority section; owner names
// may point at the question (offset 12).
size_t write_synthesized(const DecodedQuery& q, dns::Rcode rcode, std::span<const uint8_t> rrs, uint16_t ancount,
                         uint16_t nscount, const dns::Ede* ede, std::span<uint8_t> out, size_t limit);

// Writes an empty answer with TC=1 (header, question, OPT iff the client sent one): what a
// client over its response rate gets instead of the answer (RRL's slip), so it retries over TCP.
size_t write_truncated(const DecodedQuery& q, dns::Rcode rcode, std::span<uint8_t> out, size_t limit);

// Writes a cached or fresh answer whose records have aged `age` seconds. `stale` answers get
// kStaleTtl on every record.
size_t write_answer(const DecodedQuery& q, const cache::CachedAnswer& a, uint32_t age, bool stale,
                    const dns::Ede* ede, std::span<uint8_t> out, size_t limit);

}  // namespace sekisho::resolver
