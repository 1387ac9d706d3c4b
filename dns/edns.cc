#include "dns/edns.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace sekisho::dns {
namespace {
constexpr uint16_t kOptionEde = 15;     // RFC 8914 §2
constexpr uint16_t kOptionEcs = 8;      // RFC 7871 §6
constexpr size_t kOptFixedSize = 11;    // root name + type + class + ttl + rdlength
constexpr size_t kMaxEdeText = 300;     // keeps the OPT well inside a 1232-byte answer
}  // namespace

bool parse_opt(std::span<const uint8_t> msg, const RecordView& rr, EdnsInfo& out) {
  if (msg[rr.name_pos] != 0) return false;
  out.present = true;
  // RFC 6891 §6.2.5: values below 512 are treated as 512.
  out.udp_payload = std::max<uint16_t>(rr.rclass, kClassicUdpLimit);
  out.ext_rcode = static_cast<uint8_t>(rr.ttl >> 24);
  out.version = static_cast<uint8_t>(rr.ttl >> 16);
  out.do_bit = (rr.ttl & 0x8000) != 0;
  size_t p = rr.rdata_pos;
  while (p < rr.end) {
    if (p + 4 > rr.end) return false;
    const uint16_t code = read_u16(&msg[p]);
    const uint16_t len = read_u16(&msg[p + 2]);
    // FAMILY (2) SOURCE PREFIX-LENGTH (1) SCOPE (1) ADDRESS; a malformed option is not FORMERR
    // here: we never use its contents, only a clear request for no subnet.
    if (code == kOptionEcs && len >= 4 && p + 4 + len <= rr.end && msg[p + 6] == 0) out.ecs_opt_out = true;
    p += 4 + len;
  }
  return p == rr.end;
}

bool ecs_echo_matches(std::span<const uint8_t> msg, size_t question_end, const ClientSubnet& sent) {
  if (sent.family == 0) return true;
  const Header h = read_header(msg);
  const unsigned records = unsigned{h.ancount} + h.nscount + h.arcount;
  size_t pos = question_end;
  for (unsigned i = 0; i < records; ++i) {
    RecordView rr;
    if (!walk_record(msg, pos, rr)) return false;
    if (i < unsigned{h.ancount} + h.nscount || rr.type != qtype::kOpt) continue;
    for (size_t p = rr.rdata_pos; p + 4 <= rr.end;) {
      const uint16_t code = read_u16(&msg[p]);
      const uint16_t len = read_u16(&msg[p + 2]);
      if (p + 4 + len > rr.end) return false;
      if (code == kOptionEcs) {
        // FAMILY (2) SOURCE PREFIX-LENGTH (1) SCOPE PREFIX-LENGTH (1) ADDRESS (as many bytes as
        // the source prefix needs, §6).
        if (len < 4 || read_u16(&msg[p + 4]) != sent.family || msg[p + 6] != sent.source_prefix) return false;
        const size_t bytes = len - 4u;
        if (bytes != sent.address_bytes()) return false;
        if (bytes > 0 && std::memcmp(&msg[p + 8], sent.address, bytes) != 0) return false;
      }
      p += 4u + len;
    }
  }
  return true;
}

ClientSubnet client_subnet_of(const struct sockaddr* sa, uint8_t v4_prefix, uint8_t v6_prefix) {
  ClientSubnet s;
  const uint8_t* bytes = nullptr;
  if (sa->sa_family == AF_INET) {
    s.family = 1;
    s.source_prefix = std::min<uint8_t>(v4_prefix, 32);
    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  } else if (sa->sa_family == AF_INET6) {
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      s.family = 1;
      s.source_prefix = std::min<uint8_t>(v4_prefix, 32);
      bytes = a6->s6_addr + 12;
    } else {
      s.family = 2;
      s.source_prefix = std::min<uint8_t>(v6_prefix, 128);
      bytes = a6->s6_addr;
    }
  } else {
    return s;
  }
  const size_t whole = s.source_prefix / 8u;
  std::memcpy(s.address, bytes, whole);
  if (const unsigned rest = s.source_prefix % 8u) s.address[whole] = static_cast<uint8_t>(bytes[whole] & (0xFFu << (8 - rest)));
  return s;
}

size_t append_ecs_option(uint8_t* opt, size_t opt_len, const ClientSubnet& subnet) {
  if (!subnet.family) return 0;
  uint8_t* p = opt + opt_len;
  const size_t n = subnet.address_bytes();
  write_u16(p, kOptionEcs);
  write_u16(p + 2, static_cast<uint16_t>(4 + n));
  write_u16(p + 4, subnet.family);
  p[6] = subnet.source_prefix;
  p[7] = 0;  // SCOPE PREFIX-LENGTH: 0 in queries (§6)
  std::memcpy(p + 8, subnet.address, n);
  write_u16(opt + 9, static_cast<uint16_t>(read_u16(opt + 9) + subnet.option_size()));  // RDLENGTH
  return subnet.option_size();
}

size_t opt_size(const Ede* ede) {
  if (!ede) return kOptFixedSize;
  return kOptFixedSize + 4 + 2 + std::min(ede->text.size(), kMaxEdeText);
}

size_t write_opt(uint8_t* out, size_t cap, uint16_t payload, Rcode rcode, bool do_bit, const Ede* ede) {
  size_t need = opt_size(ede);
  if (need > cap) return 0;
  size_t text_len = ede ? std::min(ede->text.size(), kMaxEdeText) : 0;
  uint16_t rdlength = ede ? static_cast<uint16_t>(4 + 2 + text_len) : 0;
  uint32_t ttl = (static_cast<uint32_t>(static_cast<uint16_t>(rcode) >> 4) << 24) | (do_bit ? 0x8000u : 0u);
  out[0] = 0;
  write_u16(out + 1, qtype::kOpt);
  write_u16(out + 3, payload);
  write_u32(out + 5, ttl);
  write_u16(out + 9, rdlength);
  if (ede) {
    uint8_t* o = out + kOptFixedSize;
    write_u16(o, kOptionEde);
    write_u16(o + 2, static_cast<uint16_t>(2 + text_len));
    write_u16(o + 4, static_cast<uint16_t>(ede->code));
    std::memcpy(o + 6, ede->text.data(), text_len);
  }
  return need;
}

}  // namespace sekisho::dns
