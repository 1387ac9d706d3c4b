#include "resolver/respond.h"

#include <algorithm>
#include <cstring>

namespace sekisho::resolver {
namespace {

// Header + echoed question; returns the offset after the question.
size_t write_head(const DecodedQuery& q, uint16_t flags, uint8_t* out) {
  dns::write_u16(out, q.header.id);
  dns::write_u16(out + 2, flags);
  dns::write_u16(out + 4, q.question_ok ? 1 : 0);
  std::memset(out + 6, 0, 6);
  size_t n = dns::kHeaderSize;
  if (q.question_ok) {
    std::memcpy(out + n, q.question.qname, q.question.qname_len);
    n += q.question.qname_len;
    dns::write_u16(out + n, q.question.qtype);
    dns::write_u16(out + n + 2, q.question.qclass);
    n += 4;
  }
  return n;
}

uint16_t response_flags(const DecodedQuery& q, dns::Rcode rcode) {
  uint16_t flags = dns::flag::kQr | dns::flag::kRa | (q.header.flags & (dns::flag::kOpcodeMask | dns::flag::kRd | dns::flag::kCd));
  return static_cast<uint16_t>(flags | (static_cast<uint16_t>(rcode) & dns::flag::kRcodeMask));
}

size_t head_size(const DecodedQuery& q) { return dns::kHeaderSize + (q.question_ok ? q.question.qname_len + 4u : 0u); }

// Appends OPT when the client used EDNS. Returns the new length, or 0 when it does not fit.
size_t finish_with_opt(const DecodedQuery& q, dns::Rcode rcode, const dns::Ede* ede, uint8_t* out, size_t n, size_t cap) {
  if (!q.edns.present) return n;
  size_t w = dns::write_opt(out + n, cap - n, dns::kAdvertisedUdpPayload, rcode, q.edns.do_bit, ede);
  if (w == 0) {
    w = dns::write_opt(out + n, cap - n, dns::kAdvertisedUdpPayload, rcode, q.edns.do_bit, nullptr);
    if (w == 0) return 0;
  }
  dns::write_u16(out + 10, static_cast<uint16_t>(dns::read_u16(out + 10) + 1));
  return n + w;
}

}  // namespace

size_t answer_limit(const DecodedQuery& q, Transport transport) {
  if (transport != Transport::udp) return 65535;
  if (!q.edns.present) return dns::kClassicUdpLimit;
  return std::min<size_t>(q.edns.udp_payload, dns::kAdvertisedUdpPayload);
}

size_t write_error(const DecodedQuery& q, dns::Rcode rcode, const dns::Ede* ede, std::span<uint8_t> out, size_t limit) {
  const size_t cap = std::min(limit, out.size());
  if (head_size(q) > cap) return 0;
  size_t n = write_head(q, response_flags(q, rcode), out.data());
  size_t with_opt = finish_with_opt(q, rcode, ede, out.data(), n, cap);
  return with_opt ? with_opt : n;
}

size_t write_truncated(const DecodedQuery& q, dns::Rcode rcode, std::span<uint8_t> out, size_t limit) {
  const size_t n = write_error(q, rcode, nullptr, out, limit);
  if (n >= dns::kHeaderSize) out[2] |= static_cast<uint8_t>(dns::flag::kTc >> 8);
  return n;
}

size_t write_synthesized(const DecodedQuery& q, dns::Rcode rcode, std::span<const uint8_t> rrs, uint16_t ancount,
                         uint16_t nscount, const dns::Ede* ede, std::span<uint8_t> out, size_t limit) {
  const size_t cap = std::min(limit, out.size());
  const size_t opt = q.edns.present ? dns::opt_size(ede) : 0;
  if (head_size(q) + rrs.size() + opt > cap) return write_error(q, rcode, ede, out, limit);
  size_t n = write_head(q, response_flags(q, rcode), out.data());
  std::memcpy(out.data() + n, rrs.data(), rrs.size());
  n += rrs.size();
  dns::write_u16(out.data() + 6, ancount);
  dns::write_u16(out.data() + 8, nscount);
  size_t with_opt = finish_with_opt(q, rcode, ede, out.data(), n, cap);
  return with_opt ? with_opt : n;
}

size_t write_answer(const DecodedQuery& q, const cache::CachedAnswer& a, uint32_t age, bool stale,
                    const dns::Ede* ede, std::span<uint8_t> out, size_t limit) {
  const size_t cap = std::min(limit, out.size());
  const size_t head = head_size(q);
  const size_t opt = q.edns.present ? dns::opt_size(ede) : 0;
  uint16_t flags = response_flags(q, a.rcode);
  // RFC 6840 §5.8: AD only for clients that asked for DNSSEC data or signalled AD themselves.
  if (a.authenticated && (q.edns.do_bit || (q.header.flags & dns::flag::kAd))) flags |= dns::flag::kAd;
  if (a.authoritative) flags |= dns::flag::kAa;
  if (head + a.body.size() + opt > cap) {
    if (head > cap) return 0;
    size_t n = write_head(q, static_cast<uint16_t>(flags | dns::flag::kTc), out.data());
    size_t with_opt = finish_with_opt(q, a.rcode, ede, out.data(), n, cap);
    return with_opt ? with_opt : n;
  }
  size_t n = write_head(q, flags, out.data());
  // An answer with no records (NODATA) has an empty body, whose data() may be null: memcpy's
  // arguments must not be, even for zero bytes.
  if (!a.body.empty()) std::memcpy(out.data() + n, a.body.data(), a.body.size());
  for (uint16_t off : a.ttl_offsets) {
    uint8_t* ttl = out.data() + n + off;
    uint32_t original = dns::read_u32(ttl);
    dns::write_u32(ttl, stale ? kStaleTtl : (original > age ? original - age : 0));
  }
  n += a.body.size();
  dns::write_u16(out.data() + 6, a.ancount);
  dns::write_u16(out.data() + 8, a.nscount);
  dns::write_u16(out.data() + 10, a.arcount);
  size_t with_opt = finish_with_opt(q, a.rcode, ede, out.data(), n, cap);
  return with_opt ? with_opt : n;
}

}  // namespace sekisho::resolver
