// Bounds-checked reading of DNS messages (RFC 1035 §4). Nothing here allocates or throws:
// every reader returns false on malformed input so the data plane can answer FORMERR or drop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dns/types.h"

namespace sekisho::dns {

inline uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t read_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void write_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void write_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  Opcode opcode() const { return static_cast<Opcode>((flags & flag::kOpcodeMask) >> 11); }
  Rcode rcode() const { return static_cast<Rcode>(flags & flag::kRcodeMask); }
  bool qr() const { return flags & flag::kQr; }
  bool tc() const { return flags & flag::kTc; }
};

// Precondition: msg.size() >= kHeaderSize.
Header read_header(std::span<const uint8_t> msg);

// An uncompressed name as it appears in a question: the wire bytes (original case) and a
// lowercased copy used as the lookup key. Names are at most 255 bytes, so this lives inline.
struct Question {
  uint8_t qname[kMaxNameWire];        // wire form, original case (for echoing back, RFC 1035 §7.1)
  uint8_t qname_lower[kMaxNameWire];  // wire form, ASCII-lowercased (cache key, policy lookups)
  uint16_t qname_len = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  uint8_t label_count = 0;
};

// Reads the question at `pos` (must be uncompressed, as RFC 1035 allows no earlier name to point
// to). On success advances `pos` past qtype/qclass.
bool read_question(std::span<const uint8_t> msg, size_t& pos, Question& out);

// Advances `pos` past a possibly compressed name without expanding it.
bool skip_name(std::span<const uint8_t> msg, size_t& pos);

// Expands a possibly compressed name at `pos` into `out` (lowercased), following at most
// 127 pointers that each point strictly backwards. `out_len` receives the wire length.
bool expand_name(std::span<const uint8_t> msg, size_t pos, uint8_t (&out)[kMaxNameWire], size_t& out_len);

// One resource record's fixed fields, located by walk_record.
struct RecordView {
  size_t name_pos = 0;   // where its owner name starts
  size_t type_pos = 0;   // where TYPE starts (TTL is at type_pos + 4)
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  size_t rdata_pos = 0;
  uint16_t rdlength = 0;
  size_t end = 0;        // first byte after the record
};

// Reads the record at `pos` and advances past it.
bool walk_record(std::span<const uint8_t> msg, size_t& pos, RecordView& rr);

// Wire-form name equality ignoring ASCII case (both uncompressed).
bool names_equal_ci(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len);

// Renders a wire name as presentation text ("www.example.com."), for logs and EDE text.
// Writes at most `cap` bytes; returns the length written. Non-printable bytes become \DDD and
// . ; ( ) \ are backslash-escaped, exactly as ldns prints names (ldns_rdf2str).
size_t name_to_text(const uint8_t* wire, size_t wire_len, char* out, size_t cap);

}  // namespace sekisho::dns
