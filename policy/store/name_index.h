// policy/store/name_index.h — the lookup index of the domains DB (DB `index`, schema.h).
//
// A read-only hash index over every key of `domains`, rebuilt by the writer in the same write
// transaction as the import it describes, and read zero-copy from the map. A lookup hashes each
// candidate (the name and its label-boundary ancestors), prefetches their slot lines together,
// and answers from the index alone. Keys are hashed to 4 KiB pages of 256 slots of 16 bytes
// {u64 check, u32 header id, u8 key length}; a probe starts at the first slot of one of the
// page's 64 lines and runs on linearly, so a lookup touches one line of one page (one TLB walk),
// hit or miss. The header (all / subtree categories, flags) comes from a small deduplicated
// table: 32-byte entries of 64-bit sets (version 9) while every stored id is below 64, 128-byte
// entries of 256-bit sets (version 10) once one is not, so a store of the first 64 ids keeps
// the index it always had, and older readers keep reading it.
//
// The index keeps no key bytes for lookups: a slot matches when its check (the key's 64-bit
// seeded hash) and length equal the candidate's. Reading a stored key to compare it was a second,
// dependent cache miss on every hit (the lookup rate went from 2.2-2.5M to 3.0M/s without it).
// The cost is a false match with odds of about 2^-47 per probed slot (the page already fixes
// ~17 of the 64 bits): at 4M probes a second, once in a few months of saturation, and the seed
// is random per build, so no name can be crafted to collide. Exact answers come from the B-tree
// (`sekisho db lookup`, export, verify), which stays the source of truth.
//
// Keys that do not fit their page (rare) go to an overflow table of the same 16-byte slots
// (linear probing), consulted only for pages whose bit in the overflow bitmap is set. A delta
// index also stores its keys (u8 length + bytes, in the `keys` region), because the next delta
// starts from them; a base index does not (a snapshot without a matching index falls back to
// B-tree descents).
//
// Layout: one virtual byte space cut into chunks of 2^chunk_shift bytes, each chunk one LMDB
// value keyed by (generation u64 BE, chunk number u32 BE). Chunk 0 holds IndexHeader; the header
// table, the overflow slots, the keys, the pages and the bitmaps each start on a chunk boundary;
// no 32-byte table entry, slot or key record straddles a chunk. Values of a generation are
// written in the import's transaction and those of older generations deleted in it, so a reader
// only ever finds the index of its own snapshot (and checks header.generation against meta anyway).
#pragma once

#include <lmdb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "policy/store/entry_codec.h"

namespace sekisho::policy::name_index {

inline constexpr uint32_t kMagic = 0x58494b53;  // "SKIX"
// 9: hash-checked 16-byte slots, no key records (8: an unmerged experiment); 10: the same with
// wide header-table entries (ids past 63).
inline constexpr uint32_t kVersion = 9;
inline constexpr uint32_t kWideVersion = 10;
inline constexpr unsigned char kKindBase = 'B';   // chunk keys: kind, generation, chunk
inline constexpr unsigned char kKindDelta = 'D';
inline constexpr uint8_t kTombstone = 0xff;         // header flags of a key deleted since the base
inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kSlotSize = 16;              // u64 check, u32 header id, u8 key length, 3 zero bytes
inline constexpr unsigned kPageSlots = kPageSize / kSlotSize;
inline constexpr unsigned kLineSlots = 64 / kSlotSize;  // a probe starts on a line boundary
inline constexpr unsigned kKeysPerPage = 128;        // sizing target: half full
inline constexpr unsigned kMaxKeysPerPage = 176;     // slot load cap: short probe runs
inline constexpr unsigned kMinChunkShift = 22;  // 4 MiB values: 1024 overflow pages each
inline constexpr unsigned kMaxChunks = 1024;
inline constexpr size_t kTableEntrySize = 32;   // u64 all, u64 subtree, u8 flags, padding
inline constexpr size_t kWideTableEntrySize = 128;  // 4×u64 all, 4×u64 subtree, u8 flags, padding
inline constexpr size_t kWideFlagsOffset = 64;
inline constexpr size_t kMaxKeyRecord = 256;    // delta keys region: u8 length, then the key

struct IndexHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t generation;
  uint64_t seed;
  uint64_t keys;
  uint32_t slot_bits;    // overflow table: 2^slot_bits slots (check 0 = empty)
  uint32_t max_key_len;  // longest key: longer candidates are skipped without hashing
  uint32_t chunk_shift;
  uint32_t chunks;       // number of chunk values, chunk 0 included
  uint64_t table_off, table_count;
  uint64_t slots_off;    // overflow table
  uint64_t keys_off, keys_size;  // delta: its keys (u8 length + bytes each); base: none
  uint64_t pages_off, pages;     // page buckets
  uint64_t ovbits_off;           // one bit per page: some of its keys are in the overflow table
  uint64_t label_counts;         // bit L-1: some key has L labels (bit 63: 64 or more)
  uint64_t kind;                 // kKindBase | kKindDelta
  uint64_t base_generation;      // delta: the base it applies to (same seed)
  uint64_t filter_off, filter_bits;  // delta: blocked Bloom filter (FilterBlock, 16 bits/key), so
                                     // that probes of keys not in the delta (almost all) stay in cache
};

// Hash of a key: 8-byte little-endian words mixed in order, the last one zero-padded, the length
// folded in at the end. Because the length comes last, the hashes of all prefixes of a key (the
// candidates of a lookup) come out of one pass over it (CategoryReader::lookup_indexed).
inline uint64_t hash_mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9fb21c651e98df25ULL;
  return h ^ (h >> 29);
}
inline uint64_t hash_final(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}
inline uint64_t hash_length(uint64_t h, size_t n) { return hash_final(h ^ (n * 0x9e3779b97f4a7c15ULL)); }
inline uint64_t key_hash(const char* p, size_t n, uint64_t seed) {
  uint64_t h = seed;
  const size_t total = n;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = hash_mix(h, w);
  }
  if (n) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = hash_mix(h, w);
  }
  return hash_length(h, total);
}
inline uint64_t filter_hash(uint64_t h) { return hash_final(h ^ 0x5bd1e9955bd1e995ULL); }

// The delta's filter is blocked: a key sets 3 bits of one 128-bit block, so a check reads one
// cache line (a block is 16-byte aligned in the map, as LMDB puts a value 16 bytes into its
// page, and never straddles a line). 16 bits per key: ~0.8 % false positives, fewer than the
// two-line, two-bit filter of index version 6, at half the memory traffic per candidate.
inline constexpr uint64_t kFilterBlockBits = 128;
struct FilterBlock {
  uint64_t block;   // block number
  uint64_t lo, hi;  // the key's bits in the block's two little-endian words
};
inline FilterBlock filter_block(uint64_t h, uint64_t filter_bits) {
  const uint64_t f = filter_hash(h);
  FilterBlock b{f & (filter_bits / kFilterBlockBits - 1), 0, 0};
  for (unsigned shift : {32u, 39u, 46u}) {
    const unsigned bit = static_cast<unsigned>(f >> shift) & (kFilterBlockBits - 1);
    (bit < 64 ? b.lo : b.hi) |= uint64_t{1} << (bit & 63);
  }
  return b;
}
// What a slot stores of a key's hash: all of it but bit 0, which is set so that 0 means empty
// (bit 0 also picks the page, so it carries no information within one).
inline uint64_t slot_check(uint64_t h) { return h | 1u; }

// Rebuilds the index of `domains` for `generation` inside the write txn: deletes every value of
// `index`, then writes a new base. Throws StoreError. Returns the number of bytes written.
uint64_t build(MDB_txn* txn, MDB_dbi domains, MDB_dbi index, uint64_t generation);

// Index for `generation` after a write txn that touched (inserted, changed or deleted) the
// domains keys `touched` (nullptr: unknown or too many). If the index of generation - 1 is there
// and the keys changed since its base stay under the delta limit, only a delta index is written:
// those keys with their current header, deleted ones as tombstones; the base is left alone (no
// copy-on-write of hundreds of MB for a small feed, no file growth). Otherwise build().
uint64_t update(MDB_txn* txn, MDB_dbi domains, MDB_dbi index, uint64_t generation,
                const std::vector<std::string>* touched);
// Keys a delta may hold before the next import rebuilds the base: max(65536, base keys / 16).
uint64_t delta_limit(uint64_t base_keys);
void set_delta_limit_for_test(uint64_t limit);  // 0: default
// Keys a page takes before the rest go to the overflow table (0: kMaxKeysPerPage); a small cap
// sends most keys there, so that tests exercise it.
void set_page_cap_for_test(unsigned cap);

// The same from keys given by the caller (any order), e.g. from the entries of a first import
// into an empty DB, built on another thread while the B-tree is written. add() touches no LMDB
// state; write() must run in the write txn. Throws StoreError.
class Builder {
 public:
  // keys: exactly how many add() calls follow. A delta takes its base's seed and generation.
  Builder(uint64_t keys, uint64_t generation, unsigned char kind = kKindBase, uint64_t seed = 0,
          uint64_t base_generation = 0);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;
  void add(std::string_view key, const EntryHeader& h);
  uint64_t write(MDB_txn* txn, MDB_dbi index);

 private:
  static constexpr unsigned kAhead = 16;
  struct Pending {
    uint64_t h;
    const char* key;
    uint32_t len, hdr;
  };
  void place(const Pending& p);
  static void put_slot(char* s, const Pending& p);
  uint64_t keys_, generation_, added_ = 0;
  unsigned char kind_;
  uint64_t base_generation_;
  unsigned bits_ = 6;
  uint64_t mask_ = 0, seed_ = 0, npages_ = 1;
  unsigned page_cap_ = kMaxKeysPerPage;
  uint32_t max_len_ = 0;
  uint64_t label_counts_ = 0;
  std::vector<char> pages_;
  std::vector<uint16_t> used_;
  std::vector<uint8_t> ovbits_, filter_;
  std::vector<Pending> overflow_;  // keys whose page was full, placed in write() (key unused)
  std::vector<char> slots_;        // overflow table
  std::vector<char> keys_blob_;    // delta only: its keys
  std::vector<EntryHeader> headers_;  // distinct headers, by table id
  std::shared_ptr<void> ids_;      // header dedup map (name_index.cc)
  EntryHeader last_;
  uint32_t last_id_ = UINT32_MAX;
  Pending pend_[kAhead];
  unsigned pend_n_ = 0, pend_head_ = 0;
};

// Reader's view of one snapshot's index: chunk pointers into the map. load() is called when the
// snapshot changes (not per lookup); find() is the hot path (no allocation, no throw).
class View {
 public:
  // False (and !valid()) if the snapshot has no index of this kind for `generation` or it is
  // malformed.
  bool load(MDB_txn* txn, MDB_dbi index, unsigned char kind, uint64_t generation) noexcept;
  uint64_t base_generation() const noexcept { return base_generation_; }
  uint64_t keys() const noexcept { return keys_; }
  // False if the key with hash h is certainly not in this index (delta filter); true otherwise.
  // The filter may span chunks (deltas of bases of some 20M keys and more).
  bool may_contain(uint64_t h) const noexcept {
    if (filter_bits_ == 0) return true;
    const FilterBlock b = filter_block(h, filter_bits_);
    const char* p = at(filter_off_ + b.block * (kFilterBlockBits / 8));
    uint64_t lo, hi;
    std::memcpy(&lo, p, 8);
    std::memcpy(&hi, p + 8, 8);
    return (lo & b.lo) == b.lo && (hi & b.hi) == b.hi;
  }
  // Starts loading the filter bytes may_contain(h) reads (batch lookups: checked a few names later).
  void prefetch_filter(uint64_t h) const noexcept {
    if (filter_bits_ == 0) return;
    __builtin_prefetch(at(filter_off_ + filter_block(h, filter_bits_).block * (kFilterBlockBits / 8)));
  }
  uint64_t label_counts() const noexcept { return label_counts_; }
  // Control plane: every key of the index (delta rebuilds).
  void keys(std::vector<std::string>& out) const;
  void clear() noexcept { valid_ = false; }
  // Asks the kernel to back the index's part of the map with 2 MiB page-cache folios mapped by
  // PMDs (MADV_HUGEPAGE; ignored where unsupported). Every probe lands on a random page of a
  // few hundred MB: with 4 KiB mappings each one costs a page walk, dear under nested paging.
  // Without it, pages read by faults under MADV_RANDOM (LMDB's MDB_NORDAHEAD) come in 4 KiB.
  // Only whole 2 MiB extents of runs of chunks are advised, so nothing outside the map is.
  void advise_huge_pages() const noexcept;
  bool valid() const noexcept { return valid_; }
  uint32_t max_key_len() const noexcept { return max_key_len_; }
  // False if no key has `labels` labels: such a candidate is skipped without a probe (most
  // stores hold no one-label key, so the TLD is never probed).
  bool has_label_count(size_t labels) const noexcept {
    return (label_counts_ >> (labels > 64 ? 63 : labels - 1)) & 1;
  }
  uint64_t seed() const noexcept { return seed_; }

  // Page of hash h, and the slot line where its probe starts (prefetch target).
  uint64_t page_of(uint64_t h) const noexcept { return ((h & 0xffffffffu) * npages_) >> 32; }
  static unsigned start_slot(uint64_t h) noexcept {
    return (static_cast<unsigned>(h >> 32) * kLineSlots) & (kPageSlots - 1);
  }
  const char* slot_line(uint64_t h) const noexcept {
    return at(pages_off_ + page_of(h) * kPageSize + start_slot(h) * kSlotSize);
  }
  // The header of the key of length len whose hash is h, or nullptr if the key is not in the DB.
  const unsigned char* find(size_t len, uint64_t h) const noexcept {
    const uint64_t page = page_of(h);
    const char* base = at(pages_off_ + page * kPageSize);
    const uint64_t check = slot_check(h);
    unsigned i = start_slot(h);
    for (unsigned n = 0; n < kPageSlots; ++n, i = (i + 1) & (kPageSlots - 1)) {
      const char* s = base + i * kSlotSize;
      uint64_t c;
      std::memcpy(&c, s, 8);
      if (c == 0) break;
      if (c == check && static_cast<unsigned char>(s[12]) == len) return entry(s);
    }
    if (!(static_cast<unsigned char>(*at(ovbits_off_ + (page >> 3))) & (1u << (page & 7)))) return nullptr;
    return find_overflow(len, h);
  }
  const unsigned char* find_overflow(size_t len, uint64_t h) const noexcept {
    const uint64_t check = slot_check(h);
    for (uint64_t i = (h >> 32) & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      const char* s = at(slots_off_ + i * kSlotSize);
      uint64_t c;
      std::memcpy(&c, s, 8);
      if (c == 0) return nullptr;
      if (c == check && static_cast<unsigned char>(s[12]) == len) return entry(s);
    }
    return nullptr;
  }
  // Decodes a table entry returned by find().
  void header(const unsigned char* e, EntryHeader& h) const noexcept {
    h.count = 0;
    if (!wide_) {
      h.all = CategorySet::from_low_word(load_word(e));
      h.subtree = CategorySet::from_low_word(load_word(e + 8));
      h.flags = e[16];
      return;
    }
    for (unsigned i = 0; i < CategorySet::kWords; ++i) {
      h.all.set_word(i, load_word(e + 8 * i));
      h.subtree.set_word(i, load_word(e + 32 + 8 * i));
    }
    h.flags = e[kWideFlagsOffset];
  }
  uint8_t flags(const unsigned char* e) const noexcept { return e[wide_ ? kWideFlagsOffset : 16]; }

 private:
  const char* at(uint64_t off) const noexcept { return chunk_[off >> shift_] + (off & chunk_mask_); }
  const unsigned char* entry(const char* slot) const noexcept {
    uint32_t hdr;
    std::memcpy(&hdr, slot + 8, 4);
    if (hdr >= table_count_) return nullptr;
    return reinterpret_cast<const unsigned char*>(at(table_off_ + uint64_t{hdr} * table_entry_size_));
  }
  static uint64_t load_word(const unsigned char* p) noexcept {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  }

  bool valid_ = false;
  bool wide_ = false;
  uint64_t table_entry_size_ = kTableEntrySize;
  uint64_t base_generation_ = 0, keys_ = 0, filter_off_ = 0, filter_bits_ = 0;
  unsigned shift_ = kMinChunkShift;
  uint64_t chunk_mask_ = 0;
  uint64_t mask_ = 0;
  uint64_t seed_ = 0;
  uint32_t max_key_len_ = 0;
  uint64_t label_counts_ = 0;
  uint64_t table_off_ = 0, table_count_ = 0, slots_off_ = 0, keys_off_ = 0, keys_size_ = 0;
  uint64_t pages_off_ = 0, npages_ = 1, ovbits_off_ = 0;
  uint32_t chunks_ = 0;
  uint64_t chunk_bytes_[kMaxChunks] = {};
  const char* chunk_[kMaxChunks] = {};
};

}  // namespace sekisho::policy::name_index
