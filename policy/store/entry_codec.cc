// policy/store/entry_codec.cc — encode/decode of domains/urls values (layouts in entry_codec.h).
#include "policy/store/entry_codec.h"

namespace sekisho::policy {
namespace {

uint64_t load_u64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool decode_legacy_header(const unsigned char* p, size_t size, EntryHeader& h) {
  h.all = CategorySet::from_low_word(load_u64(p));
  h.subtree = CategorySet::from_low_word(load_u64(p + 8));
  h.flags = p[16];
  h.count = p[17];
  return size == kLegacyHeaderSize + h.count * kLegacyContributionSize;
}

// Walks the current layout's contributions: f(source, flags, ids, n) for each. False if the
// value is malformed (a contribution runs past the end, ids not ascending, a stray tail).
template <class F>
bool each_contribution(const unsigned char* p, size_t size, F&& f) {
  if (size < 2) return false;
  const unsigned count = p[1];
  size_t at = 2;
  for (unsigned i = 0; i < count; ++i) {
    if (at + 4 > size) return false;
    uint16_t source;
    std::memcpy(&source, p + at, 2);
    const uint8_t flags = p[at + 2];
    const unsigned n = p[at + 3];
    if (at + 4 + n > size) return false;
    const unsigned char* ids = p + at + 4;
    for (unsigned k = 1; k < n; ++k)
      if (ids[k] <= ids[k - 1]) return false;
    f(source, flags, ids, n);
    at += 4 + n;
  }
  // The padding byte, if any: there only to move the length off the first layout's.
  if (at + 1 == size && p[at] == 0 && is_legacy_entry_size(at)) return count > 0;
  return at == size && count > 0;
}

size_t padded(unsigned char* out, size_t n) {
  if (!is_legacy_entry_size(n)) return n;
  out[n] = 0;
  return n + 1;
}

}  // namespace

bool decode_header(const void* data, size_t size, EntryHeader& h) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  if (is_legacy_entry_size(size)) return decode_legacy_header(p, size, h);
  h = EntryHeader{};
  const bool ok = each_contribution(p, size, [&](uint16_t, uint8_t flags, const unsigned char* ids, unsigned n) {
    CategorySet s;
    for (unsigned k = 0; k < n; ++k) s.add(ids[k]);
    h.all |= s;
    if (flags & kFlagSubtree) h.subtree |= s;
  });
  h.flags = size >= 1 ? p[0] : 0;
  h.count = size >= 2 ? p[1] : 0;
  return ok;
}

bool decode_entry(std::string_view value, EntryHeader& h, std::vector<Contribution>& out) {
  out.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  if (is_legacy_entry_size(value.size())) {
    if (!decode_legacy_header(p, value.size(), h)) return false;
    p += kLegacyHeaderSize;
    for (unsigned i = 0; i < h.count; ++i, p += kLegacyContributionSize) {
      Contribution c;
      std::memcpy(&c.source_id, p, 2);
      c.flags = p[2];
      c.cats = CategorySet::from_low_word(load_u64(p + 3));
      out.push_back(c);
    }
    return true;
  }
  const bool ok = each_contribution(p, value.size(), [&](uint16_t source, uint8_t flags, const unsigned char* ids, unsigned n) {
    Contribution c{source, flags, {}};
    for (unsigned k = 0; k < n; ++k) c.cats.add(ids[k]);
    out.push_back(c);
  });
  if (!ok) return false;
  // The stored flags and count are checked against the contributions by verify (fold_header).
  h = fold_header(out);
  h.flags = p[0];
  h.count = p[1];
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
  size_t n = 2;
  for (const auto& c : contributions) n += 4 + c.cats.size();
  out.resize(n + 1);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  const EntryHeader h = fold_header(contributions);
  p[0] = h.flags;
  p[1] = h.count;
  size_t at = 2;
  for (const auto& c : contributions) {
    std::memcpy(p + at, &c.source_id, 2);
    p[at + 2] = c.flags;
    p[at + 3] = static_cast<unsigned char>(c.cats.size());
    at += 4;
    c.cats.for_each([&](uint8_t id) { p[at++] = id; });
  }
  out.resize(padded(p, at));
}

size_t encode_single(const Contribution& c, unsigned char* out) {
  out[0] = c.flags;
  out[1] = 1;
  std::memcpy(out + 2, &c.source_id, 2);
  out[4] = c.flags;
  out[5] = static_cast<unsigned char>(c.cats.size());
  size_t at = 6;
  c.cats.for_each([&](uint8_t id) { out[at++] = id; });
  return padded(out, at);
}

std::string encode_legacy_entry(const std::vector<Contribution>& contributions) {
  const EntryHeader h = fold_header(contributions);
  std::string out(kLegacyHeaderSize + contributions.size() * kLegacyContributionSize, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  const uint64_t a = h.all.word(0), s = h.subtree.word(0);
  std::memcpy(p, &a, 8);
  std::memcpy(p + 8, &s, 8);
  p[16] = h.flags;
  p[17] = h.count;
  p += kLegacyHeaderSize;
  for (const auto& c : contributions) {
    std::memcpy(p, &c.source_id, 2);
    p[2] = c.flags;
    const uint64_t bits = c.cats.word(0);
    std::memcpy(p + 3, &bits, 8);
    p += kLegacyContributionSize;
  }
  return out;
}

}  // namespace sekisho::policy
