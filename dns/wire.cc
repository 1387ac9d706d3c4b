// Every index is checked against msg.size() before it is read; a name walk is bounded both by
// the 255-byte limit and by the number of compression pointers it may follow.
#include "dns/wire.h"

#include <cstdio>

#include "base/text.h"

namespace sekisho::dns {

Header read_header(std::span<const uint8_t> msg) {
  const uint8_t* p = msg.data();
  return Header{read_u16(p), read_u16(p + 2), read_u16(p + 4), read_u16(p + 6), read_u16(p + 8), read_u16(p + 10)};
}

bool read_question(std::span<const uint8_t> msg, size_t& pos, Question& out) {
  size_t p = pos;
  size_t n = 0;
  uint8_t labels = 0;
  for (;;) {
    if (p >= msg.size()) return false;
    uint8_t len = msg[p];
    if (len & 0xC0) return false;  // compression or reserved label types are not valid here
    if (n + 1 + len > kMaxNameWire) return false;
    if (p + 1 + len > msg.size()) return false;
    out.qname[n] = len;
    out.qname_lower[n] = len;
    for (size_t i = 0; i < len; ++i) {
      uint8_t c = msg[p + 1 + i];
      out.qname[n + 1 + i] = c;
      out.qname_lower[n + 1 + i] = base::ascii_lower(c);
    }
    n += 1 + len;
    p += 1 + len;
    if (len == 0) break;
    ++labels;
  }
  if (p + 4 > msg.size()) return false;
  out.qname_len = static_cast<uint16_t>(n);
  out.label_count = labels;
  out.qtype = read_u16(&msg[p]);
  out.qclass = read_u16(&msg[p + 2]);
  pos = p + 4;
  return true;
}

bool skip_name(std::span<const uint8_t> msg, size_t& pos) {
  size_t p = pos;
  size_t total = 0;
  for (;;) {
    if (p >= msg.size()) return false;
    uint8_t len = msg[p];
    if ((len & 0xC0) == 0xC0) {
      if (p + 2 > msg.size()) return false;
      pos = p + 2;  // a pointer ends the name in place
      return true;
    }
    if (len & 0xC0) return false;
    total += 1 + len;
    if (total > kMaxNameWire) return false;
    p += 1 + len;
    if (len == 0) break;
  }
  if (p > msg.size()) return false;
  pos = p;
  return true;
}

bool expand_name(std::span<const uint8_t> msg, size_t pos, uint8_t (&out)[kMaxNameWire], size_t& out_len) {
  size_t p = pos;
  size_t n = 0;
  int jumps = 0;
  size_t lowest_seen = pos;  // pointers must go strictly backwards, which also rules out loops
  for (;;) {
    if (p >= msg.size()) return false;
    uint8_t len = msg[p];
    if ((len & 0xC0) == 0xC0) {
      if (p + 2 > msg.size() || ++jumps > 127) return false;
      size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[p + 1];
      if (target >= lowest_seen) return false;
      lowest_seen = target;
      p = target;
      continue;
    }
    if (len & 0xC0) return false;
    if (n + 1 + len > kMaxNameWire || p + 1 + len > msg.size()) return false;
    out[n] = len;
    for (size_t i = 0; i < len; ++i) out[n + 1 + i] = base::ascii_lower(msg[p + 1 + i]);
    n += 1 + len;
    p += 1 + len;
    if (len == 0) break;
  }
  out_len = n;
  return true;
}

bool walk_record(std::span<const uint8_t> msg, size_t& pos, RecordView& rr) {
  rr.name_pos = pos;
  size_t p = pos;
  if (!skip_name(msg, p)) return false;
  if (p + 10 > msg.size()) return false;
  rr.type_pos = p;
  rr.type = read_u16(&msg[p]);
  rr.rclass = read_u16(&msg[p + 2]);
  rr.ttl = read_u32(&msg[p + 4]);
  rr.rdlength = read_u16(&msg[p + 8]);
  rr.rdata_pos = p + 10;
  if (rr.rdata_pos + rr.rdlength > msg.size()) return false;
  rr.end = rr.rdata_pos + rr.rdlength;
  pos = rr.end;
  return true;
}

bool names_equal_ci(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len) {
  if (a_len != b_len) return false;
  for (size_t i = 0; i < a_len; ++i)
    if (base::ascii_lower(a[i]) != base::ascii_lower(b[i])) return false;
  return true;
}

size_t name_to_text(const uint8_t* wire, size_t wire_len, char* out, size_t cap) {
  size_t o = 0;
  auto put = [&](char c) {
    if (o < cap) out[o++] = c;
  };
  size_t p = 0;
  if (wire_len == 0 || wire[0] == 0) {
    put('.');
    return o;
  }
  while (p < wire_len && wire[p] != 0) {
    uint8_t len = wire[p];
    for (size_t i = 0; i < len && p + 1 + i < wire_len; ++i) {
      uint8_t c = wire[p + 1 + i];
      // The specials of RFC 1035 §5.1 that ldns escapes too ('.', ';', '(', ')', '\\'): the feed's
      // record identities (feed/rpz_apply.cc) are hashes of this text and must equal ldns's.
      if (c == '.' || c == '\\' || c == ';' || c == '(' || c == ')') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c > 0x20 && c < 0x7f) {
        put(static_cast<char>(c));
      } else {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        for (int k = 0; k < 4; ++k) put(buf[k]);
      }
    }
    put('.');
    p += 1 + len;
  }
  return o;
}

}  // namespace sekisho::dns
