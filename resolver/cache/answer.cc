#include "resolver/cache/answer.h"

#include <algorithm>

namespace sekisho::cache {

bool make_cached_answer(std::span<const uint8_t> msg, size_t question_end, const config::CacheSettings& limits,
                        CachedAnswer& out, std::string& why) {
  dns::Header h = dns::read_header(msg);
  size_t pos = question_end;
  size_t body_end = question_end;
  uint32_t min_ttl = UINT32_MAX;
  uint32_t soa_ttl = UINT32_MAX;
  bool opt_seen = false;
  out.ttl_offsets.clear();
  out.chain.clear();
  const size_t total = static_cast<size_t>(h.ancount) + h.nscount + h.arcount;
  uint16_t arcount = 0;
  for (size_t i = 0; i < total; ++i) {
    dns::RecordView rr;
    if (!dns::walk_record(msg, pos, rr)) {
      why = "record " + std::to_string(i + 1) + " of the answer is malformed";
      return false;
    }
    const bool additional = i >= static_cast<size_t>(h.ancount) + h.nscount;
    if (rr.type == dns::qtype::kOpt) {
      if (!additional || opt_seen) {
        why = "OPT record outside the additional section or repeated";
        return false;
      }
      opt_seen = true;
      continue;
    }
    if (opt_seen) {
      // Cutting OPT out would move the records after it and break compression pointers into them.
      why = "records after OPT are not supported";
      return false;
    }
    if (additional) ++arcount;
    if (rr.type == dns::qtype::kCname && i < h.ancount) {
      uint8_t target[dns::kMaxNameWire];
      size_t target_len = 0;
      if (!dns::expand_name(msg, rr.rdata_pos, target, target_len)) {
        why = "CNAME record " + std::to_string(i + 1) + " has a malformed target";
        return false;
      }
      out.chain.insert(out.chain.end(), target, target + target_len);
    }
    out.ttl_offsets.push_back(static_cast<uint16_t>(rr.type_pos + 4 - question_end));
    min_ttl = std::min(min_ttl, rr.ttl);
    if (rr.type == dns::qtype::kSoa && i >= h.ancount && i < static_cast<size_t>(h.ancount) + h.nscount &&
        rr.rdlength >= 22) {
      // SOA MINIMUM is the last 4 bytes of RDATA (RFC 1035 §3.3.13).
      uint32_t minimum = dns::read_u32(&msg[rr.end - 4]);
      soa_ttl = std::min(rr.ttl, minimum);
    }
    body_end = rr.end;
  }
  out.body.assign(msg.begin() + question_end, msg.begin() + body_end);
  out.ancount = h.ancount;
  out.nscount = h.nscount;
  out.arcount = arcount;
  out.rcode = h.rcode();
  out.authenticated = (h.flags & dns::flag::kAd) != 0;

  const bool negative = out.rcode == dns::Rcode::nxdomain || (out.rcode == dns::Rcode::noerror && h.ancount == 0);
  uint32_t ttl = 0;
  if (negative) {
    // Without an SOA there is no negative TTL to honour (RFC 2308 §5): do not cache.
    ttl = soa_ttl == UINT32_MAX ? 0 : std::min(soa_ttl, limits.negative_max_ttl);
  } else if (out.rcode == dns::Rcode::noerror) {
    ttl = min_ttl == UINT32_MAX ? 0 : std::clamp(min_ttl, limits.min_ttl, limits.max_ttl);
  }
  out.ttl = ttl;
  // What clients see must match how long we keep it: negative answers show the negative TTL on
  // their SOA (RFC 2308 §3), positive ones their record TTLs clamped to [min_ttl, max_ttl].
  for (uint16_t off : out.ttl_offsets) {
    uint8_t* p = out.body.data() + off;
    const uint32_t original = dns::read_u32(p);
    const uint32_t shown = negative ? std::min(original, ttl) : std::clamp(original, limits.min_ttl, limits.max_ttl);
    if (shown != original) dns::write_u32(p, shown);
  }
  return true;
}

}  // namespace sekisho::cache
