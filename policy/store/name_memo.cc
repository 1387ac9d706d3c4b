// policy/store/name_memo.cc — see name_memo.h.
#include "policy/store/name_memo.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>

#include "base/keyed_hash.h"
#include "policy/store/category_store.h"

namespace sekisho::policy {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
size_t entry_count(size_t entries) { return std::bit_ceil(std::max<size_t>(entries, 64)); }
}  // namespace

NameMemo::NameMemo(size_t entries) : bytes_(entry_count(entries) * sizeof(Entry)), set_mask_(entry_count(entries) / 2 - 1) {
  // Aligned to 2 MiB when that large, so that MADV_HUGEPAGE can back it with huge pages.
  const size_t align = bytes_ >= kHugePage ? kHugePage : alignof(Entry);
  void* p = std::aligned_alloc(align, (bytes_ + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  if (align == kHugePage) ::madvise(p, bytes_, MADV_HUGEPAGE);  // advice only: 4 KiB pages work too
  std::memset(p, 0, bytes_);
  entries_ = static_cast<Entry*>(p);
}

NameMemo::~NameMemo() { std::free(entries_); }

NameMemo::Entry* NameMemo::set(std::span<const uint8_t> wire) noexcept {
  // Keyed: the names are the clients'; with a known hash they could pick names that keep
  // evicting a popular name's entry.
  const uint64_t h = base::keyed_hash(wire.data(), wire.size());
  return entries_ + 2 * (h & set_mask_);
}

bool NameMemo::same_name(const Entry& e, std::span<const uint8_t> wire) noexcept {
  return e.length == wire.size() && std::memcmp(e.name, wire.data(), wire.size()) == 0;
}

bool NameMemo::holds(const Entry& e, std::span<const uint8_t> wire, uint64_t snapshot) noexcept {
  return e.snapshot == snapshot && same_name(e, wire);
}

bool NameMemo::find(std::span<const uint8_t> wire, uint64_t snapshot, Match& out) noexcept {
  if (wire.size() > kMaxWire || snapshot == 0) return false;
  const Entry* ways = set(wire);
  const Entry* e = holds(ways[0], wire, snapshot) ? &ways[0] : holds(ways[1], wire, snapshot) ? &ways[1] : nullptr;
  if (!e) {
    ++misses_;
    return false;
  }
  ++hits_;
  out = Match{};
  out.found = e->flags & kFound;
  out.exact_match = e->flags & kExact;
  out.has_url_entries = e->flags & kUrl;
  for (unsigned i = 0; i < e->id_count; ++i) out.categories.add(e->ids[i]);
  out.entry_flags = e->entry_flags;
  return true;
}

void NameMemo::remember(std::span<const uint8_t> wire, uint64_t snapshot, const Match& m) noexcept {
  if (wire.size() > kMaxWire || snapshot == 0 || m.categories.size() > kMaxIds) return;
  Entry* ways = set(wire);
  // The same name (remembered for an older snapshot) is replaced where it is; else the first
  // way's name moves to the second.
  if (!same_name(ways[0], wire)) ways[1] = ways[0];
  Entry& e = ways[0];
  e.snapshot = snapshot;
  e.id_count = 0;
  m.categories.for_each([&](uint8_t id) { e.ids[e.id_count++] = id; });
  e.flags = static_cast<uint8_t>((m.found ? kFound : 0) | (m.exact_match ? kExact : 0) | (m.has_url_entries ? kUrl : 0));
  e.entry_flags = m.entry_flags;
  e.length = static_cast<uint8_t>(wire.size());
  std::memcpy(e.name, wire.data(), wire.size());
}

}  // namespace sekisho::policy
