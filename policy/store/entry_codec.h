// policy/store/entry_codec.h — the value format of domains and urls entries.
//
// Current layout (bytes):
//   [0]      flags    OR of contribution flags (kFlagExact | kFlagSubtree | kFlagUrl)
//   [1]      count    number of contributions that follow (1..255)
//   then count × { u16 source id (little endian), u8 flags, u8 n, n category ids ascending }
//   and one zero byte of padding when the length would otherwise be one of the first layout's.
// A value holds the ids themselves, not a bitmap: with 256 ids a bitmap would be 32 bytes per
// set where a name almost always has one category (a one-source, one-category entry is 7 bytes;
// it was 29). The header (the union of all categories, of subtree ones, and the flags) is the
// fold of the contributions: decode_header computes it, so it can never disagree with them.
//
// First layout (stores written while ids fit 64 bits; still read, never written):
//   [0,8) all u64, [8,16) subtree u64, [16] flags, [17] count, then count × 11 bytes
//   { u16 source id, u8 flags, u64 categories }: always 18 + 11 × count bytes, count ≥ 1.
// The two are told apart by length alone (the current one is padded off those lengths), so a
// store holds either or both, and nothing needs rewriting: an old store is read as it is, and
// entries move to the current layout as their sources are imported again (or all at once with
// `sekisho db migrate`).
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

// The first layout's sizes.
inline constexpr size_t kLegacyHeaderSize = 18;
inline constexpr size_t kLegacyContributionSize = 11;
inline constexpr bool is_legacy_entry_size(size_t size) {
  return size >= kLegacyHeaderSize + kLegacyContributionSize && (size - kLegacyHeaderSize) % kLegacyContributionSize == 0;
}
// Longest value encode_single writes: header, one contribution of every id, padding.
inline constexpr size_t kMaxSingleEntrySize = 2 + 4 + kMaxCategories + 1;

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

// Hot path (lookups without an index, URL lookups): the header, folded from the value. Returns
// false if the value is malformed. No allocation.
bool decode_header(const void* data, size_t size, EntryHeader& h) noexcept;

// Control plane: all contributions; false if the value is malformed.
bool decode_entry(std::string_view value, EntryHeader& h, std::vector<Contribution>& out);
// Encodes contributions (sorted by source id) into out.
void encode_entry(const std::vector<Contribution>& contributions, std::string& out);
// encode_entry of exactly one contribution into out (at least kMaxSingleEntrySize bytes);
// returns the length.
size_t encode_single(const Contribution& c, unsigned char* out);
// Header as it must be for these contributions (used by encode and verify).
EntryHeader fold_header(const std::vector<Contribution>& contributions);
// The first layout of `contributions` (every id below 64): what stores were written in before;
// tests build such stores with it.
std::string encode_legacy_entry(const std::vector<Contribution>& contributions);

}  // namespace sekisho::policy
