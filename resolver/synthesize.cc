#include "resolver/synthesize.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "resolver/respond.h"

namespace sekisho::resolver {
namespace {

constexpr uint8_t kQuestionPointer[2] = {0xC0, 0x0C};
// SOA names of the synthetic zone: .invalid is reserved never to resolve (RFC 6761 §6.4).
constexpr uint8_t kSoaNames[] = {7, 's', 'e', 'k', 'i', 's', 'h', 'o', 7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0,
                                 10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 0xC0, 0};

size_t put_rr_head(uint8_t* p, uint16_t type, uint32_t ttl, uint16_t rdlength) {
  std::memcpy(p, kQuestionPointer, 2);
  dns::write_u16(p + 2, type);
  dns::write_u16(p + 4, dns::kClassIn);
  dns::write_u32(p + 6, ttl);
  dns::write_u16(p + 10, rdlength);
  return 12;
}

size_t put_soa(uint8_t* p, size_t rr_offset_in_message, uint32_t ttl) {
  // The second name ends with a pointer to "sekisho.invalid." written just before it.
  uint8_t names[sizeof kSoaNames];
  std::memcpy(names, kSoaNames, sizeof names);
  const size_t mname_offset = rr_offset_in_message + 12;
  names[sizeof names - 2] = static_cast<uint8_t>(0xC0 | (mname_offset >> 8));
  names[sizeof names - 1] = static_cast<uint8_t>(mname_offset & 0xFF);
  const uint16_t rdlength = sizeof names + 20;
  size_t n = put_rr_head(p, dns::qtype::kSoa, ttl, rdlength);
  std::memcpy(p + n, names, sizeof names);
  n += sizeof names;
  const uint32_t fields[5] = {1, 3600, 600, 86400, ttl};  // serial refresh retry expire minimum
  for (uint32_t f : fields) {
    dns::write_u32(p + n, f);
    n += 4;
  }
  return n;
}

}  // namespace

size_t write_rewritten(const DecodedQuery& q, std::span<const uint8_t> target, const cache::CachedAnswer& a,
                       uint32_t age, uint32_t cname_ttl, std::span<uint8_t> out, size_t limit) {
  // Rebuild the target's message (question at offset 12, as the upstream sent it) so the
  // compression pointers inside `a.body` can be followed. One buffer per thread, reused.
  thread_local std::vector<uint8_t> original;
  const size_t body_offset = dns::kHeaderSize + target.size() + 4;
  original.assign(body_offset + a.body.size(), 0);
  std::memcpy(original.data() + dns::kHeaderSize, target.data(), target.size());
  std::memcpy(original.data() + body_offset, a.body.data(), a.body.size());
  const std::span<const uint8_t> msg(original);

  const size_t cap = std::min(limit, out.size());
  uint8_t rrs[4096];
  size_t n = put_rr_head(rrs, dns::qtype::kCname, cname_ttl, static_cast<uint16_t>(target.size()));
  std::memcpy(rrs + n, target.data(), target.size());
  n += target.size();
  uint16_t count = 1;
  size_t pos = body_offset;
  for (uint16_t i = 0; i < a.ancount; ++i) {
    dns::RecordView rr;
    if (!dns::walk_record(msg, pos, rr)) break;
    // Only records whose RDATA holds no compressible name can be copied as they are.
    const bool name_rdata = rr.type == dns::qtype::kCname;
    const bool plain_rdata = rr.type == dns::qtype::kA || rr.type == dns::qtype::kAaaa ||
                             rr.type == dns::qtype::kHttps || rr.type == dns::qtype::kSvcb || rr.type == 16 /*TXT*/;
    if (!name_rdata && !plain_rdata) continue;
    uint8_t owner[dns::kMaxNameWire], rdata_name[dns::kMaxNameWire];
    size_t owner_len = 0, rdata_len = rr.rdlength;
    if (!dns::expand_name(msg, rr.name_pos, owner, owner_len)) break;
    if (name_rdata && !dns::expand_name(msg, rr.rdata_pos, rdata_name, rdata_len)) break;
    if (n + owner_len + 10 + rdata_len > sizeof rrs) break;
    std::memcpy(rrs + n, owner, owner_len);
    n += owner_len;
    dns::write_u16(rrs + n, rr.type);
    dns::write_u16(rrs + n + 2, rr.rclass);
    dns::write_u32(rrs + n + 4, rr.ttl > age ? rr.ttl - age : 0);
    dns::write_u16(rrs + n + 8, static_cast<uint16_t>(rdata_len));
    n += 10;
    std::memcpy(rrs + n, name_rdata ? rdata_name : &original[rr.rdata_pos], rdata_len);
    n += rdata_len;
    ++count;
  }
  if (dns::kHeaderSize + q.question.qname_len + 4 + n + (q.edns.present ? dns::opt_size(nullptr) : 0) > cap) {
    cache::CachedAnswer empty;  // does not fit: header + question with TC=1
    empty.rcode = a.rcode;
    empty.body.resize(cap + 1);
    return write_answer(q, empty, 0, false, nullptr, out, limit);
  }
  return write_synthesized(q, a.rcode, std::span(rrs, n), count, 0, nullptr, out, limit);
}

size_t write_minimal_any(const DecodedQuery& q, std::span<uint8_t> out, size_t limit) {
  constexpr uint16_t kHinfo = 13;
  constexpr uint8_t kRdata[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};  // <character-string> CPU, OS
  uint8_t rr[12 + sizeof kRdata];
  const size_t n = put_rr_head(rr, kHinfo, kMinimalAnyTtl, sizeof kRdata);
  std::memcpy(rr + n, kRdata, sizeof kRdata);
  return write_synthesized(q, dns::Rcode::noerror, std::span(rr, sizeof rr), 1, 0, nullptr, out, limit);
}

size_t write_blocked(const DecodedQuery& q, config::BlockAction action, const config::BlockpageSettings& blockpage,
                     const dns::Ede& ede, std::span<uint8_t> out, size_t limit) {
  uint8_t rrs[128];
  const uint32_t ttl = blockpage.ttl;
  const size_t rr_offset = dns::kHeaderSize + q.question.qname_len + 4;
  switch (action) {
    case config::BlockAction::refused:
      return write_error(q, dns::Rcode::refused, &ede, out, limit);
    case config::BlockAction::blockpage:
      if (q.question.qtype == dns::qtype::kA) {
        size_t n = put_rr_head(rrs, dns::qtype::kA, ttl, 4);
        in_addr a{};
        if (blockpage.ipv4) a = *blockpage.ipv4;
        std::memcpy(rrs + n, &a, 4);
        return write_synthesized(q, dns::Rcode::noerror, std::span(rrs, n + 4), 1, 0, &ede, out, limit);
      }
      // AAAA only when the block page has an IPv6 address: `::` would send clients that prefer
      // IPv6 to their own host (or make them wait for a connect timeout before falling back to
      // IPv4), while NODATA makes them use the A answer at once (RFC 8305 clients handle it
      // best). A keeps 0.0.0.0 without an IPv4 address: the null route clients know.
      if (q.question.qtype == dns::qtype::kAaaa && blockpage.ipv6) {
        size_t n = put_rr_head(rrs, dns::qtype::kAaaa, ttl, 16);
        const in6_addr a = *blockpage.ipv6;
        std::memcpy(rrs + n, &a, 16);
        return write_synthesized(q, dns::Rcode::noerror, std::span(rrs, n + 16), 1, 0, &ede, out, limit);
      }
      [[fallthrough]];  // any other type of a blocked name (and AAAA without an address): NODATA
    case config::BlockAction::nodata:
    case config::BlockAction::nxdomain: {
      const size_t n = put_soa(rrs, rr_offset, ttl);
      const dns::Rcode rcode = action == config::BlockAction::nxdomain ? dns::Rcode::nxdomain : dns::Rcode::noerror;
      return write_synthesized(q, rcode, std::span(rrs, n), 0, 1, &ede, out, limit);
    }
  }
  return write_error(q, dns::Rcode::refused, &ede, out, limit);
}

}  // namespace sekisho::resolver
