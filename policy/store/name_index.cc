// policy/store/name_index.cc — building (writer) and loading (reader) the lookup index.
#include "policy/store/name_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"

namespace sekisho::policy::name_index {
namespace {

constexpr size_t kChunkKey = 13;
void chunk_key(unsigned char kind, uint64_t generation, uint32_t chunk, unsigned char out[kChunkKey]) {
  out[0] = kind;
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<unsigned char>(generation >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) out[9 + i] = static_cast<unsigned char>(chunk >> (24 - 8 * i));
}

std::atomic<uint64_t> g_delta_limit{0};
std::atomic<unsigned> g_page_cap{0};

struct HeaderKey {
  CategorySet all, subtree;
  uint8_t flags;
  bool operator==(const HeaderKey&) const = default;
};
struct HeaderKeyHash {
  size_t operator()(const HeaderKey& k) const {
    uint64_t h = k.flags;
    for (unsigned i = 0; i < CategorySet::kWords; ++i) h = hash_mix(hash_mix(h, k.all.word(i)), k.subtree.word(i));
    return hash_final(h);
  }
};

struct Region {
  uint64_t off = 0;    // in the virtual space
  uint64_t bytes = 0;
};

uint64_t chunks_of(uint64_t bytes, unsigned shift) { return (bytes + (uint64_t{1} << shift) - 1) >> shift; }

// Places the regions on chunk boundaries after chunk 0; returns the chunk count.
uint64_t layout(unsigned shift, Region& table, Region& slots, Region& keys, Region& pages, Region& ovbits,
                Region& filter) {
  uint64_t c = 1;
  for (Region* r : {&table, &slots, &keys, &pages, &ovbits, &filter}) {
    r->off = c << shift;
    c += chunks_of(r->bytes, shift);
  }
  return c;
}

}  // namespace

Builder::Builder(uint64_t keys, uint64_t generation, unsigned char kind, uint64_t seed, uint64_t base_generation)
    : keys_(keys), generation_(generation), kind_(kind), base_generation_(base_generation) {
  npages_ = std::max<uint64_t>(1, (keys + kKeysPerPage - 1) / kKeysPerPage);
  if (npages_ > (uint64_t{1} << 32)) throw StoreError("index: too many keys");
  std::random_device rd;
  seed_ = seed ? seed
               : hash_final(generation ^ (uint64_t{rd()} << 32) ^ rd() ^
                            static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) |
                     1;
  pages_.assign(npages_ * kPageSize, 0);
  used_.assign(npages_, 0);
  if (const unsigned cap = g_page_cap.load()) page_cap_ = std::min(cap, kMaxKeysPerPage);
  ovbits_.assign((npages_ + 7) / 8, 0);
  ids_ = std::make_shared<std::unordered_map<HeaderKey, uint32_t, HeaderKeyHash>>();
  if (kind_ == kKindDelta) {
    uint64_t bits = 4096;
    while (bits < keys * 16) bits <<= 1;
    filter_.assign(bits / 8, 0);
  }
}

Builder::~Builder() = default;

void Builder::put_slot(char* s, const Pending& p) {
  const uint64_t check = slot_check(p.h);
  std::memcpy(s, &check, 8);
  std::memcpy(s + 8, &p.hdr, 4);
  s[12] = static_cast<char>(p.len);
}

// Puts a key into its page, or into the overflow list if the page is full.
void Builder::place(const Pending& p) {
  const uint64_t page = ((p.h & 0xffffffffu) * npages_) >> 32;
  if (used_[page] >= page_cap_) {
    ovbits_[page >> 3] = static_cast<uint8_t>(ovbits_[page >> 3] | (1u << (page & 7)));
    overflow_.push_back(p);
    return;
  }
  char* base = pages_.data() + page * kPageSize;
  ++used_[page];
  for (unsigned i = View::start_slot(p.h);; i = (i + 1) & (kPageSlots - 1)) {
    char* s = base + i * kSlotSize;
    uint64_t c;
    std::memcpy(&c, s, 8);
    if (c == 0) return put_slot(s, p);
  }
}

void Builder::add(std::string_view key, const EntryHeader& h) {
  if (key.empty() || key.size() > 255) throw StoreError("index: malformed domains key");
  if (++added_ > keys_) throw StoreError("index: more keys than announced");
  if (last_id_ == UINT32_MAX || !(h.all == last_.all && h.subtree == last_.subtree && h.flags == last_.flags)) {
    const HeaderKey hk{h.all, h.subtree, h.flags};
    auto& ids = *static_cast<std::unordered_map<HeaderKey, uint32_t, HeaderKeyHash>*>(ids_.get());
    auto [it, added] = ids.try_emplace(hk, static_cast<uint32_t>(ids.size()));
    if (added) headers_.push_back(EntryHeader{h.all, h.subtree, h.flags, 0});
    last_ = h;
    last_id_ = it->second;
  }
  max_len_ = std::max<uint32_t>(max_len_, static_cast<uint32_t>(key.size()));
  const size_t labels = 1 + static_cast<size_t>(std::count(key.begin(), key.end(), '.'));
  label_counts_ |= uint64_t{1} << (labels > 64 ? 63 : labels - 1);
  const uint64_t hv = key_hash(key.data(), key.size(), seed_);
  if (!filter_.empty()) {
    const FilterBlock b = filter_block(hv, filter_.size() * 8);
    uint8_t* p = filter_.data() + b.block * (kFilterBlockBits / 8);
    uint64_t lo, hi;
    std::memcpy(&lo, p, 8);
    std::memcpy(&hi, p + 8, 8);
    lo |= b.lo, hi |= b.hi;
    std::memcpy(p, &lo, 8);
    std::memcpy(p + 8, &hi, 8);
  }
  if (kind_ == kKindDelta) {  // the next delta starts from this one's keys
    size_t pos = keys_blob_.size();
    const uint64_t kChunk = uint64_t{1} << kMinChunkShift;
    // No record straddles a 4 MiB boundary, hence none straddles a chunk of any larger size.
    if ((pos & (kChunk - 1)) + 1 + key.size() > kChunk) pos = (pos + kChunk - 1) & ~(kChunk - 1);
    keys_blob_.resize(pos + 1 + key.size());
    keys_blob_[pos] = static_cast<char>(key.size());
    std::memcpy(keys_blob_.data() + pos + 1, key.data(), key.size());
  }
  // Pending keys: the page's slot line is prefetched kAhead keys ahead.
  const uint64_t page = ((hv & 0xffffffffu) * npages_) >> 32;
  __builtin_prefetch(pages_.data() + page * kPageSize + View::start_slot(hv) * kSlotSize, 1);
  __builtin_prefetch(&used_[page], 1);
  if (pend_n_ == kAhead) {
    place(pend_[pend_head_]);
    pend_head_ = (pend_head_ + 1) % kAhead;
    --pend_n_;
  }
  pend_[(pend_head_ + pend_n_) % kAhead] = Pending{hv, key.data(), static_cast<uint32_t>(key.size()), last_id_};
  ++pend_n_;
}

uint64_t Builder::write(MDB_txn* txn, MDB_dbi index) {
  for (; pend_n_ > 0; --pend_n_, pend_head_ = (pend_head_ + 1) % kAhead) place(pend_[pend_head_]);
  if (added_ != keys_) throw StoreError("index: domains entry count changed during the build");
  bits_ = 6;
  while ((uint64_t{1} << bits_) / 2 < overflow_.size()) ++bits_;
  mask_ = (uint64_t{1} << bits_) - 1;
  slots_.assign((mask_ + 1) * kSlotSize, 0);
  for (const Pending& p : overflow_) {
    for (uint64_t i = (p.h >> 32) & mask_;; i = (i + 1) & mask_) {
      char* s = slots_.data() + i * kSlotSize;
      uint64_t c;
      std::memcpy(&c, s, 8);
      if (c == 0) {
        put_slot(s, p);
        break;
      }
    }
  }

  // The narrow table (version 9) while every id fits 64 bits: what stores always had.
  const bool wide = std::any_of(headers_.begin(), headers_.end(),
                                [](const EntryHeader& h) { return !h.all.fits_low_word() || !h.subtree.fits_low_word(); });
  const size_t entry_size = wide ? kWideTableEntrySize : kTableEntrySize;
  std::vector<char> table(headers_.size() * entry_size, 0);
  for (size_t i = 0; i < headers_.size(); ++i) {
    char* e = table.data() + i * entry_size;
    const EntryHeader& h = headers_[i];
    for (unsigned w = 0; w < (wide ? CategorySet::kWords : 1u); ++w) {
      const uint64_t a = h.all.word(w), s = h.subtree.word(w);
      std::memcpy(e + 8 * w, &a, 8);
      std::memcpy(e + (wide ? 32 : 8) + 8 * w, &s, 8);
    }
    e[wide ? kWideFlagsOffset : 16] = static_cast<char>(h.flags);
  }
  Region rt{0, table.size()}, rs{0, slots_.size()}, rb{0, keys_blob_.size()}, rp{0, pages_.size()},
      ro{0, ovbits_.size()}, rf{0, filter_.size()};
  unsigned shift = kMinChunkShift;
  uint64_t chunks;
  while ((chunks = layout(shift, rt, rs, rb, rp, ro, rf)) > kMaxChunks) ++shift;

  IndexHeader hdr{};
  hdr.magic = kMagic;
  hdr.version = wide ? kWideVersion : kVersion;
  hdr.generation = generation_;
  hdr.seed = seed_;
  hdr.keys = keys_;
  hdr.slot_bits = bits_;
  hdr.max_key_len = max_len_;
  hdr.chunk_shift = shift;
  hdr.chunks = static_cast<uint32_t>(chunks);
  hdr.table_off = rt.off;
  hdr.table_count = headers_.size();
  hdr.slots_off = rs.off;
  hdr.keys_off = rb.off;
  hdr.keys_size = rb.bytes;
  hdr.pages_off = rp.off;
  hdr.pages = npages_;
  hdr.ovbits_off = ro.off;
  hdr.label_counts = label_counts_;
  hdr.kind = kind_;
  hdr.base_generation = kind_ == kKindDelta ? base_generation_ : generation_;
  hdr.filter_off = rf.off;
  hdr.filter_bits = filter_.size() * 8;

  if (kind_ == kKindBase) {
    mdb_check(mdb_drop(txn, index, 0), "index: drop old generation");
  } else {  // keep the base, replace the delta
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn, index, &cur), "index: cursor");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
    unsigned char d = kKindDelta;
    while (true) {
      MDB_val k{1, &d}, v;
      int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND) break;
      mdb_check(rc, "index: find old delta");
      mdb_check(mdb_cursor_del(cur, 0), "index: drop old delta");
    }
  }
  unsigned char kb[kChunkKey];
  auto put = [&](uint32_t chunk, const void* data, size_t size) {
    chunk_key(kind_, generation_, chunk, kb);
    MDB_val key{sizeof kb, kb}, val{size, nullptr};
    // MDB_RESERVE: one copy, straight into the (dirty) overflow pages.
    int r = mdb_put(txn, index, &key, &val, MDB_APPEND | MDB_RESERVE);
    if (r != MDB_SUCCESS) throw StoreError("index: write chunk " + std::to_string(chunk), r);
    std::memcpy(val.mv_data, data, size);
  };
  put(0, &hdr, sizeof hdr);
  uint64_t written = sizeof hdr;
  const uint64_t csize = uint64_t{1} << shift;
  auto put_region = [&](const Region& r, const char* data) {
    for (uint64_t o = 0; o < r.bytes; o += csize) {
      size_t size = static_cast<size_t>(std::min(csize, r.bytes - o));
      put(static_cast<uint32_t>((r.off + o) >> shift), data + o, size);
      written += size;
    }
  };
  put_region(rt, table.data());
  put_region(rs, slots_.data());
  put_region(rb, keys_blob_.data());
  put_region(rp, pages_.data());
  put_region(ro, reinterpret_cast<const char*>(ovbits_.data()));
  put_region(rf, reinterpret_cast<const char*>(filter_.data()));
  return written;
}

uint64_t build(MDB_txn* txn, MDB_dbi domains, MDB_dbi index, uint64_t generation) {
  MDB_stat st;
  mdb_check(mdb_stat(txn, domains, &st), "index: stat domains");
  Builder b(st.ms_entries, generation);
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn, domains, &cur), "index: cursor");
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
  MDB_val k, v;
  int rc;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    EntryHeader h;
    if (!decode_header(v.mv_data, v.mv_size, h)) throw StoreError("index: malformed domains entry");
    b.add(from_val(k), h);
  }
  if (rc != MDB_NOTFOUND) mdb_check(rc, "index: walk domains");
  guard.reset();
  return b.write(txn, index);
}

uint64_t delta_limit(uint64_t base_keys) {
  const uint64_t forced = g_delta_limit.load();
  return forced ? forced : std::max<uint64_t>(65536, base_keys / 16);
}
void set_delta_limit_for_test(uint64_t limit) { g_delta_limit = limit; }
void set_page_cap_for_test(unsigned cap) { g_page_cap = cap; }

uint64_t update(MDB_txn* txn, MDB_dbi domains, MDB_dbi index, uint64_t generation,
                const std::vector<std::string>* touched) {
  if (!touched || generation < 2) return build(txn, domains, index, generation);
  View base, delta;
  const bool have_delta = delta.load(txn, index, kKindDelta, generation - 1);
  const uint64_t base_gen = have_delta ? delta.base_generation() : generation - 1;
  if (!base.load(txn, index, kKindBase, base_gen) || (have_delta && delta.seed() != base.seed()))
    return build(txn, domains, index, generation);
  const uint64_t limit = delta_limit(base.keys());
  if (touched->size() > limit) return build(txn, domains, index, generation);
  std::vector<std::string> keys;
  if (have_delta) delta.keys(keys);
  keys.insert(keys.end(), touched->begin(), touched->end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.size() > limit) return build(txn, domains, index, generation);
  Builder b(keys.size(), generation, kKindDelta, base.seed(), base_gen);
  for (const std::string& k : keys) {
    MDB_val kv = to_val(k), v;
    EntryHeader h;
    int rc = mdb_get(txn, domains, &kv, &v);
    if (rc == MDB_SUCCESS) {
      if (!decode_header(v.mv_data, v.mv_size, h)) throw StoreError("index: malformed domains entry");
    } else if (rc == MDB_NOTFOUND) {
      h.flags = kTombstone;  // deleted since the base
    } else {
      mdb_check(rc, "index: read domains");
    }
    b.add(k, h);
  }
  return b.write(txn, index);
}

void View::keys(std::vector<std::string>& out) const {
  if (!valid_) return;
  const uint64_t chunk = uint64_t{1} << kMinChunkShift;
  for (uint64_t pos = 0; pos < keys_size_;) {
    const auto len = static_cast<unsigned char>(*at(keys_off_ + pos));
    if (len == 0) {  // padding before a 4 MiB boundary: the next record starts there
      pos = (pos + chunk) & ~(chunk - 1);
      continue;
    }
    if (pos + 1 + len > keys_size_) return;  // malformed: keep what was read
    out.emplace_back(at(keys_off_ + pos + 1), len);
    pos += 1 + len;
  }
}

void View::advise_huge_pages() const noexcept {
  if (!valid_) return;
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  // A run: chunks that follow one another in the map with gaps under 2 MiB (consecutive
  // overflow-page values are 4 KiB apart). The gaps lie inside the map, between two chunks.
  uintptr_t start = 0, end = 0;
  auto flush = [&] {
    const uintptr_t a = (start + kHuge - 1) & ~(kHuge - 1), b = end & ~(kHuge - 1);
    if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE);
  };
  for (uint32_t c = 0; c < chunks_; ++c) {
    if (!chunk_[c] || chunk_bytes_[c] == 0) continue;
    const uintptr_t a = reinterpret_cast<uintptr_t>(chunk_[c]), b = a + chunk_bytes_[c];
    if (end > start && a >= end && a - end < kHuge) {
      end = b;
    } else {
      flush();
      start = a, end = b;
    }
  }
  flush();
}

bool View::load(MDB_txn* txn, MDB_dbi index, unsigned char kind, uint64_t generation) noexcept {
  valid_ = false;
  unsigned char kb[kChunkKey];
  chunk_key(kind, generation, 0, kb);
  MDB_val k{sizeof kb, kb}, v;
  if (mdb_get(txn, index, &k, &v) != MDB_SUCCESS || v.mv_size < sizeof(IndexHeader)) return false;
  IndexHeader h;
  std::memcpy(&h, v.mv_data, sizeof h);
  if (h.magic != kMagic || (h.version != kVersion && h.version != kWideVersion) || h.generation != generation ||
      h.kind != kind)
    return false;
  const bool wide = h.version == kWideVersion;
  const uint64_t entry_size = wide ? kWideTableEntrySize : kTableEntrySize;
  if (h.chunk_shift < kMinChunkShift || h.chunk_shift > 40 || h.chunks == 0 || h.chunks > kMaxChunks ||
      h.slot_bits < 6 || h.slot_bits > 34 || h.pages == 0 || h.pages > (uint64_t{1} << 32))
    return false;
  Region rt{0, h.table_count * entry_size}, rs{0, (uint64_t{1} << h.slot_bits) * kSlotSize}, rb{0, h.keys_size},
      rp{0, h.pages * kPageSize}, ro{0, (h.pages + 7) / 8}, rf{0, h.filter_bits / 8};
  if ((h.filter_bits & (h.filter_bits - 1)) != 0 || (h.filter_bits != 0 && h.filter_bits < kFilterBlockBits)) return false;
  if (layout(h.chunk_shift, rt, rs, rb, rp, ro, rf) != h.chunks || rt.off != h.table_off ||
      rs.off != h.slots_off || rb.off != h.keys_off || rp.off != h.pages_off || ro.off != h.ovbits_off ||
      (h.filter_bits != 0 && rf.off != h.filter_off))
    return false;
  const uint64_t csize = uint64_t{1} << h.chunk_shift;
  chunk_[0] = static_cast<const char*>(v.mv_data);
  chunk_bytes_[0] = v.mv_size;
  for (const Region* r : {&rt, &rs, &rb, &rp, &ro, &rf}) {
    for (uint64_t o = 0; o < r->bytes; o += csize) {
      uint32_t c = static_cast<uint32_t>((r->off + o) >> h.chunk_shift);
      chunk_key(kind, generation, c, kb);
      MDB_val ck{sizeof kb, kb}, cv;
      if (mdb_get(txn, index, &ck, &cv) != MDB_SUCCESS || cv.mv_size != std::min(csize, r->bytes - o)) return false;
      chunk_[c] = static_cast<const char*>(cv.mv_data);
      chunk_bytes_[c] = cv.mv_size;
    }
  }
  chunks_ = h.chunks;
  shift_ = h.chunk_shift;
  chunk_mask_ = csize - 1;
  mask_ = (uint64_t{1} << h.slot_bits) - 1;
  seed_ = h.seed;
  max_key_len_ = h.max_key_len;
  table_off_ = h.table_off;
  table_count_ = h.table_count;
  slots_off_ = h.slots_off;
  keys_off_ = h.keys_off;
  keys_size_ = h.keys_size;
  pages_off_ = h.pages_off;
  npages_ = h.pages;
  ovbits_off_ = h.ovbits_off;
  label_counts_ = h.label_counts;
  base_generation_ = h.base_generation;
  keys_ = h.keys;
  filter_off_ = h.filter_off;
  filter_bits_ = h.filter_bits;
  wide_ = wide;
  table_entry_size_ = entry_size;
  valid_ = true;
  return true;
}

}  // namespace sekisho::policy::name_index
