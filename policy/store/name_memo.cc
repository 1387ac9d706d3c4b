// policy/store/name_memo.cc — see name_memo.h.
#include "policy/store/name_memo.h"

#include <bit>

#include "policy/store/category_store.h"

namespace sekisho::policy {

NameMemo::NameMemo(size_t entries)
    : entries_(new Entry[std::bit_ceil(std::max<size_t>(entries, 64))]()),
      mask_(std::bit_ceil(std::max<size_t>(entries, 64)) - 1) {}

NameMemo::Entry& NameMemo::slot(std::span<const uint8_t> wire) noexcept {
  // Words of the name mixed by multiplication; the high bits pick the slot.
  uint64_t h = wire.size() * 0x9e3779b97f4a7c15ULL;
  size_t i = 0;
  for (; i + 8 <= wire.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, wire.data() + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
  }
  uint64_t w = 0;
  std::memcpy(&w, wire.data() + i, wire.size() - i);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  return entries_[(h ^ (h >> 29)) >> 32 & mask_];
}

bool NameMemo::find(std::span<const uint8_t> wire, uint64_t snapshot, Match& out) noexcept {
  if (wire.size() > kMaxWire || snapshot == 0) return false;
  const Entry& e = slot(wire);
  if (e.snapshot != snapshot || e.length != wire.size() || std::memcmp(e.name, wire.data(), wire.size()) != 0) {
    ++misses_;
    return false;
  }
  ++hits_;
  out = Match{};
  out.found = e.flags & kFound;
  out.exact_match = e.flags & kExact;
  out.has_url_entries = e.flags & kUrl;
  out.categories = CategorySet(e.categories);
  out.entry_flags = e.entry_flags;
  return true;
}

void NameMemo::remember(std::span<const uint8_t> wire, uint64_t snapshot, const Match& m) noexcept {
  if (wire.size() > kMaxWire || snapshot == 0) return;
  Entry& e = slot(wire);
  e.snapshot = snapshot;
  e.categories = m.categories.bits();
  e.flags = static_cast<uint8_t>((m.found ? kFound : 0) | (m.exact_match ? kExact : 0) | (m.has_url_entries ? kUrl : 0));
  e.entry_flags = m.entry_flags;
  e.length = static_cast<uint8_t>(wire.size());
  std::memcpy(e.name, wire.data(), wire.size());
}

}  // namespace sekisho::policy
