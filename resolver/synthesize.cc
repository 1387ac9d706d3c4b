#include "resolver/synthesize.h"

#include <cstring>

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
      if (q.question.qtype == dns::qtype::kAaaa) {
        size_t n = put_rr_head(rrs, dns::qtype::kAaaa, ttl, 16);
        in6_addr a{};
        if (blockpage.ipv6) a = *blockpage.ipv6;
        std::memcpy(rrs + n, &a, 16);
        return write_synthesized(q, dns::Rcode::noerror, std::span(rrs, n + 16), 1, 0, &ede, out, limit);
      }
      [[fallthrough]];  // any other type of a blocked name: NODATA
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
