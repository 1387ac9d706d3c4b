// policy/store/entry_codec.h — the value format of domains and urls entries.
//
// Layout (little endian, unaligned; read with memcpy):
//   [0,8)   all      union of categories of every domain contribution (matches the name itself)
//   [8,16)  subtree  union of categories of subtree contributions (matches subdomains)
//   [16]    flags    OR of contribution flags (kFlagExact | kFlagSubtree | kFlagUrl)
//   [17]    count    number of contributions that follow (1..255)
//   then count × 11 bytes: u16 source id, u8 flags, u64 categories.
// The header is a pure function of the contributions (encode_entry computes it), so removing
// one source's contribution recomputes the union exactly.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "policy/store/categories.h"

namespace sekisho::policy {

inline constexpr uint8_t kFlagSubtree = 1;  // entry covers the name and its subdomains
inline constexpr uint8_t kFlagExact = 2;    // entry covers the name only
inline constexpr uint8_t kFlagUrl = 4;      // the source has URL entries for this exact host
inline constexpr size_t kEntryHeaderSize = 18;
inline constexpr size_t kContributionSize = 11;

struct EntryHeader {
  CategorySet all;
  CategorySet subtree;
  uint8_t flags = 0;
  uint8_t count = 0;
};

struct Contribution {
  uint16_t source_id = 0;
  uint8_t flags = 0;
  CategorySet cats;
  bool operator==(const Contribution&) const = default;
};

// Hot path: reads the header only. Returns false if the value is too short.
inline bool decode_header(const void* data, size_t size, EntryHeader& h) {
  if (size < kEntryHeaderSize) return false;
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t a, s;
  std::memcpy(&a, p, 8);
  std::memcpy(&s, p + 8, 8);
  h.all = CategorySet(a);
  h.subtree = CategorySet(s);
  h.flags = p[16];
  h.count = p[17];
  return true;
}

// Control plane: all contributions; false if the value is malformed.
bool decode_entry(std::string_view value, EntryHeader& h, std::vector<Contribution>& out);
// Encodes contributions (sorted by source id) into out, computing the header.
void encode_entry(const std::vector<Contribution>& contributions, std::string& out);
// encode_entry of exactly one contribution, into out[kEntryHeaderSize + kContributionSize].
inline void encode_single(const Contribution& c, unsigned char* out) {
  uint64_t a = c.cats.bits(), s = (c.flags & kFlagSubtree) ? a : 0, bits = a;
  std::memcpy(out, &a, 8);
  std::memcpy(out + 8, &s, 8);
  out[16] = c.flags;
  out[17] = 1;
  std::memcpy(out + 18, &c.source_id, 2);
  out[20] = c.flags;
  std::memcpy(out + 21, &bits, 8);
}
// Header as it must be for these contributions (used by encode and verify).
EntryHeader fold_header(const std::vector<Contribution>& contributions);

}  // namespace sekisho::policy
