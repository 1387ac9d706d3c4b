// policy/store/key_format.h — reversed-label keys for the domains and urls DBs.
//
// "Ads.Example.COM." -> "com.example.ads": labels in reverse order, ASCII-lowercased, joined by
// '.', no trailing dot. Every ancestor of a name is then a prefix of its key ending at a label
// boundary, which is what the suffix lookup walks (Knot kr_dname_lf does the same with
// length-prefixed labels). These functions are used on the hot path: they never allocate and
// never throw; they write into a caller's buffer of at least kMaxKeyLen bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace sekisho::policy {

// SWAR helpers (8 bytes at a time) for the hot path.
namespace swar {
inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
// 0x80 in every byte of w equal to c (exact: no false positives).
inline uint64_t byte_eq(uint64_t w, char c) {
  const uint64_t x = w ^ (0x0101010101010101ULL * static_cast<unsigned char>(c));
  const uint64_t t = (x & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL;
  return ~(t | x | 0x7f7f7f7f7f7f7f7fULL);
}
// 0x80 in every byte of w below n (n <= 0x80; bytes of 0x80 and above are never flagged).
inline uint64_t byte_lt(uint64_t w, unsigned char n) {
  const uint64_t t = (w & 0x7f7f7f7f7f7f7f7fULL) + 0x0101010101010101ULL * static_cast<uint64_t>(0x80 - n);
  return ~(t | w) & 0x8080808080808080ULL;
}
// ASCII A-Z -> a-z in every byte; other bytes unchanged.
inline uint64_t lower8(uint64_t w) {
  const uint64_t h = 0x8080808080808080ULL, t = w & ~h;
  const uint64_t a = t + 0x3f3f3f3f3f3f3f3fULL, z = t + 0x2525252525252525ULL;
  return w | (((a & ~z) & ~w & h) >> 2);
}
}  // namespace swar

// A presentation name is at most 253 bytes without its trailing dot (RFC 1035 §2.3.4), so the
// key has the same length. URL keys add '/' and a path; they are capped separately.
inline constexpr size_t kMaxKeyLen = 256;
inline constexpr size_t kMaxNameLen = 253;
inline constexpr size_t kMaxLabelLen = 63;
inline constexpr size_t kMaxUrlKeyLen = 511;  // LMDB's default maximum key size

// Builds the reversed key of a presentation name (ASCII; Unicode must be converted to A-labels
// first). Returns the key length, or 0 if the name is empty, has an empty label, a label over
// 63 bytes or is over 253 bytes. No character validation: lookups of odd names just miss.
size_t make_name_key(std::string_view name, char* out);

// Same from an uncompressed wire-format name (length-prefixed labels ending in the root label),
// as found in a decoded question. Returns 0 for the root name or malformed input.
size_t make_wire_key(std::span<const uint8_t> wire, char* out);

// Inverse of make_name_key (control plane): "com.example.ads" -> "ads.example.com".
std::string key_to_name(std::string_view key);

// True for a dotted-quad IPv4 literal ("192.0.2.1"); such names are stored as exact entries.
bool is_ipv4_literal(std::string_view name);
// True if the key is that of an IPv4 literal (its first label is all digits; no TLD is).
inline bool key_is_ipv4(std::string_view key) {
  return !key.empty() && key[0] >= '0' && key[0] <= '9';
}

// URL key: host key + '/' + path (path without its leading '/'; may be empty).
std::string make_url_key(std::string_view host_key, std::string_view path);

}  // namespace sekisho::policy
