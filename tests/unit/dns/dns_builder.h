// Hand-written DNS wire messages for the resolver unit tests. Deliberately independent of
// dns/wire.h writers so that a bug there cannot hide in both the code and the test.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho_test {

// "www.Example.com" -> 3 w w w 7 E x a m p l e 3 c o m 0. "" or "." is the root name.
// Labels are split on '.', no escapes.
inline std::vector<uint8_t> wire_name(std::string_view text) {
  std::vector<uint8_t> out;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  while (!text.empty()) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  out.push_back(0);
  return out;
}

struct Msg {
  std::vector<uint8_t> b;

  Msg& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Msg& u16(uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Msg& u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    return u16(static_cast<uint16_t>(v));
  }
  Msg& raw(std::span<const uint8_t> bytes) {
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Msg& raw(std::initializer_list<uint8_t> bytes) {
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Msg& name(std::string_view text) { return raw(wire_name(text)); }
  Msg& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  Msg& question(std::string_view qname, uint16_t qtype = 1, uint16_t qclass = 1) {
    return name(qname).u16(qtype).u16(qclass);
  }
  // OPT pseudo-RR: root owner, CLASS = payload, TTL = ext_rcode | version | DO | z.
  Msg& opt(uint16_t payload = 1232, bool do_bit = false, uint8_t version = 0, uint8_t ext_rcode = 0,
           std::initializer_list<uint8_t> rdata = {}) {
    u8(0).u16(41).u16(payload);
    u8(ext_rcode).u8(version).u16(do_bit ? 0x8000 : 0);
    u16(static_cast<uint16_t>(rdata.size()));
    return raw(rdata);
  }
  // A record whose owner is a compression pointer to `ptr` (usually 12, the question name).
  Msg& rr_ptr(uint16_t ptr, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata) {
    u16(static_cast<uint16_t>(0xC000 | ptr)).u16(type).u16(1).u32(ttl).u16(static_cast<uint16_t>(rdata.size()));
    return raw(rdata);
  }
  Msg& rr(std::string_view owner, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata) {
    name(owner).u16(type).u16(1).u32(ttl).u16(static_cast<uint16_t>(rdata.size()));
    return raw(rdata);
  }
  Msg& a_ptr(uint32_t ttl, std::initializer_list<uint8_t> ip = {192, 0, 2, 1}) {
    std::vector<uint8_t> v(ip);
    return rr_ptr(12, 1, ttl, v);
  }
  // SOA with root MNAME/RNAME, so RDATA is exactly 22 bytes and MINIMUM is its last 4.
  Msg& soa(std::string_view owner, uint32_t ttl, uint32_t minimum) {
    std::vector<uint8_t> rd = {0, 0};
    for (uint32_t v : {1u, 7200u, 3600u, 1209600u, minimum}) {
      rd.push_back(static_cast<uint8_t>(v >> 24));
      rd.push_back(static_cast<uint8_t>(v >> 16));
      rd.push_back(static_cast<uint8_t>(v >> 8));
      rd.push_back(static_cast<uint8_t>(v));
    }
    return rr(owner, 6, ttl, rd);
  }
  // Patches a header count (index 0 = QD, 1 = AN, 2 = NS, 3 = AR).
  Msg& set_count(int which, uint16_t v) {
    b[4 + 2 * which] = static_cast<uint8_t>(v >> 8);
    b[5 + 2 * which] = static_cast<uint8_t>(v);
    return *this;
  }
  std::span<const uint8_t> span() const { return b; }
  size_t size() const { return b.size(); }
};

inline uint16_t get16(std::span<const uint8_t> m, size_t at) { return static_cast<uint16_t>(m[at] << 8 | m[at + 1]); }
inline uint32_t get32(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint32_t>(m[at]) << 24 | static_cast<uint32_t>(m[at + 1]) << 16 |
         static_cast<uint32_t>(m[at + 2]) << 8 | m[at + 3];
}

// A client query: header with `flags`, one question, optional OPT.
inline Msg client_query(std::string_view qname, uint16_t qtype = 1, uint16_t id = 0x1234, uint16_t flags = 0x0100,
                        bool edns = false, uint16_t payload = 1232, bool do_bit = false) {
  Msg m;
  m.header(id, flags, 1, 0, 0, edns ? 1 : 0).question(qname, qtype);
  if (edns) m.opt(payload, do_bit);
  return m;
}

}  // namespace sekisho_test
