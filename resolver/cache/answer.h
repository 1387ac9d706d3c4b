// A cacheable answer: the sections of an upstream response after its question, with the OPT
// record removed, plus where each TTL sits so hits can count TTLs down in place.
//
// Invariant: `body` was copied from offset 12 + question length of the upstream message, and
// a client question for the same name has the same length, so compression pointers inside
// `body` stay valid when it is written back at the same offset behind the client's question.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config/settings.h"
#include "dns/types.h"
#include "dns/wire.h"

namespace sekisho::cache {

struct CachedAnswer {
  std::vector<uint8_t> body;
  std::vector<uint16_t> ttl_offsets;  // offsets into body of each record's TTL field
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;  // without OPT
  dns::Rcode rcode = dns::Rcode::noerror;
  bool authenticated = false;  // upstream set AD
  bool authoritative = false;  // AA: a tenant's local answer (resolver/local_answers.h), never an upstream's
  uint32_t ttl = 0;            // seconds the answer is fresh; 0 = do not cache
  // CNAME targets of the answer section, lowercased wire names back to back: the names a
  // tenant's policy must also allow (CNAME cloaking). Empty for most answers.
  std::vector<uint8_t> chain;
};

// Extracts the answer from a validated upstream response whose question ends at
// `question_end`. TTL: the smallest record TTL, or for NXDOMAIN/NODATA the SOA's
// min(TTL, MINIMUM) (RFC 2308 §5), clamped by `limits`. False (with `why`) on a malformed
// message; the caller then treats the upstream as failed.
bool make_cached_answer(std::span<const uint8_t> msg, size_t question_end, const config::CacheSettings& limits,
                        CachedAnswer& out, std::string& why);

}  // namespace sekisho::cache
