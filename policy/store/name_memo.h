// policy/store/name_memo.h — a serving loop's memory of recent lookups: qname → the store's
// match, valid for one store snapshot.
//
// Query streams repeat themselves (a few thousand names make most of a network's queries),
// and a lookup in a store of millions of names costs a chain of cache and TLB misses in a map
// of hundreds of MB. A repeated name is answered from here instead: two adjacent lines of a
// table the loop owns (no lock, no sharing, no allocation after construction; one 2 MiB page
// where the kernel gives one, so probes cost no page walks). Each entry carries the LMDB txn
// id of the snapshot it was read from; any commit (an import, a source removed) changes the
// id, so an entry never outlives the data it came from. Two ways a set: a new name goes to
// the first way and moves the name there to the second (which the other one leaves).
// Categories are kept as up to kMaxIds ids (a 256-bit set would not leave room for the name in
// the line); a match with more is not remembered and is looked up each time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "policy/store/categories.h"

namespace sekisho::policy {

struct Match;

class NameMemo {
 public:
  // Longest wire name kept; longer ones are looked up every time (rare among popular names).
  static constexpr size_t kMaxWire = 45;
  // Most categories a remembered match has.
  static constexpr size_t kMaxIds = 7;

  // `entries` is rounded up to a power of two (at least 64).
  explicit NameMemo(size_t entries);
  ~NameMemo();
  NameMemo(const NameMemo&) = delete;
  NameMemo& operator=(const NameMemo&) = delete;

  // The remembered match of `wire` read at `snapshot`, into `out`; false if there is none.
  bool find(std::span<const uint8_t> wire, uint64_t snapshot, Match& out) noexcept;
  void remember(std::span<const uint8_t> wire, uint64_t snapshot, const Match& m) noexcept;

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t capacity() const { return (set_mask_ + 1) * 2; }

 private:
  // One cache line: what decide() reads from a Match, and the name compared in full.
  struct alignas(64) Entry {
    uint64_t snapshot;  // 0: empty (LMDB txn ids start at 1)
    uint8_t id_count;
    uint8_t ids[kMaxIds];
    uint8_t flags;        // kFound, kExact, kUrl
    uint8_t entry_flags;  // Match::entry_flags
    uint8_t length;       // of name
    uint8_t name[kMaxWire];
  };
  static_assert(sizeof(Entry) == 64);
  static constexpr uint8_t kFound = 1, kExact = 2, kUrl = 4;

  static bool same_name(const Entry& e, std::span<const uint8_t> wire) noexcept;
  static bool holds(const Entry& e, std::span<const uint8_t> wire, uint64_t snapshot) noexcept;
  Entry* set(std::span<const uint8_t> wire) noexcept;  // its two ways

  Entry* entries_;
  size_t bytes_;
  size_t set_mask_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace sekisho::policy
