// policy/store/entry_codec.cc — encode/decode of domains/urls values (layout in entry_codec.h).
#include "policy/store/entry_codec.h"

namespace sekisho::policy {

bool decode_entry(std::string_view value, EntryHeader& h, std::vector<Contribution>& out) {
  out.clear();
  if (!decode_header(value.data(), value.size(), h)) return false;
  if (value.size() != kEntryHeaderSize + h.count * kContributionSize) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(value.data()) + kEntryHeaderSize;
  for (unsigned i = 0; i < h.count; ++i, p += kContributionSize) {
    Contribution c;
    std::memcpy(&c.source_id, p, 2);
    c.flags = p[2];
    uint64_t bits;
    std::memcpy(&bits, p + 3, 8);
    c.cats = CategorySet(bits);
    out.push_back(c);
  }
  return true;
}

EntryHeader fold_header(const std::vector<Contribution>& contributions) {
  EntryHeader h;
  for (const auto& c : contributions) {
    h.all |= c.cats;  // URL-only host markers carry no categories
    if (c.flags & kFlagSubtree) h.subtree |= c.cats;
    h.flags |= c.flags;
  }
  h.count = static_cast<uint8_t>(contributions.size());
  return h;
}

void encode_entry(const std::vector<Contribution>& contributions, std::string& out) {
  EntryHeader h = fold_header(contributions);
  out.resize(kEntryHeaderSize + contributions.size() * kContributionSize);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  uint64_t a = h.all.bits(), s = h.subtree.bits();
  std::memcpy(p, &a, 8);
  std::memcpy(p + 8, &s, 8);
  p[16] = h.flags;
  p[17] = h.count;
  p += kEntryHeaderSize;
  for (const auto& c : contributions) {
    std::memcpy(p, &c.source_id, 2);
    p[2] = c.flags;
    uint64_t bits = c.cats.bits();
    std::memcpy(p + 3, &bits, 8);
    p += kContributionSize;
  }
}

}  // namespace sekisho::policy
