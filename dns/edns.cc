#include "dns/edns.h"

#include <algorithm>
#include <cstring>

namespace sekisho::dns {
namespace {
constexpr uint16_t kOptionEde = 15;     // RFC 8914 §2
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
    uint16_t len = read_u16(&msg[p + 2]);
    p += 4 + len;
  }
  return p == rr.end;
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
