// feed/rpz_apply.cc — transferred RPZ records into the store (see rpz_apply.h).
#include "feed/rpz_apply.h"

#include <lmdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "policy/import/importer.h"
#include "policy/import/public_suffix.h"
#include "policy/import/rpz_rule.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"


namespace sekisho::feed {

using policy::CategorySet;

namespace {

// An item: u64 hash, u8 flags, then the categories (little endian): a u64 of ids 0–63 (17 bytes,
// all items were so before ids went past 63), or, with kWideItem set in the flags byte, four
// u64 words of the 256-bit set (41 bytes). Store flags never use that bit.
constexpr size_t kItemSize = 17;
constexpr size_t kWideItemSize = 9 + 32;
constexpr uint8_t kWideItem = 0x80;

struct Item {
  uint64_t hash = 0;
  uint8_t flags = 0;
  CategorySet cats;
};

// A record as the feed-records DB names it: FNV-1a 64 of owner, type and rdata in presentation
// form, lowercased, as ldns prints them (the TTL is not part of it: RFC 1995 deletions name
// records, not TTLs). Fixed here rather than std::hash, since the values are stored. Only
// records that map to entries are named, and those are CNAMEs, whose rdata is one name.
uint64_t record_hash(std::string_view owner, uint16_t type, std::string_view target) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  // separator
  };
  mix(owner);
  mix(std::string_view(reinterpret_cast<const char*>(&type), 2));  // host order, as first stored
  mix(target);
  return h;
}

// Bytes [from, from+8) of key as a big-endian word, zero-padded: sorting on two of them first
// keeps the order memcmp's (keys hold no NUL), LMDB's, and seldom touches the arena.
uint64_t key_word(std::string_view key, size_t from) {
  uint64_t w = 0;
  for (size_t i = 0; i < 8; ++i) w = (w << 8) | (from + i < key.size() ? static_cast<unsigned char>(key[from + i]) : 0);
  return w;
}

std::string state_key(const std::string& source, std::string_view key) {
  std::string k = source;
  k.push_back('\0');
  k.append(key);
  return k;
}

std::vector<Item> decode_items(std::string_view v) {
  std::vector<Item> out;
  for (size_t at = 0; at + kItemSize <= v.size();) {
    const char* p = v.data() + at;
    Item item;
    std::memcpy(&item.hash, p, 8);
    const auto flags = static_cast<uint8_t>(p[8]);
    item.flags = flags & static_cast<uint8_t>(~kWideItem);
    const unsigned words = (flags & kWideItem) ? CategorySet::kWords : 1;
    if (at + 9 + 8 * words > v.size()) break;  // malformed tail: keep what was read
    for (unsigned w = 0; w < words; ++w) {
      uint64_t bits;
      std::memcpy(&bits, p + 9 + 8 * w, 8);
      item.cats.set_word(w, bits);
    }
    out.push_back(item);
    at += 9 + 8 * words;
  }
  return out;
}

// Writes one item at `p` (room for kWideItemSize); returns its size: kItemSize while its
// categories fit the low word, else kWideItemSize with kWideItem in the flags byte.
size_t encode_item(const Item& item, char* p) {
  const bool wide = !item.cats.fits_low_word();
  std::memcpy(p, &item.hash, 8);
  p[8] = static_cast<char>(item.flags | (wide ? kWideItem : 0));
  for (unsigned w = 0; w < (wide ? CategorySet::kWords : 1u); ++w) {
    const uint64_t bits = item.cats.word(w);
    std::memcpy(p + 9 + 8 * w, &bits, 8);
  }
  return wide ? kWideItemSize : kItemSize;
}

std::string encode_items(const std::vector<Item>& items) {
  std::string v;
  v.reserve(items.size() * kItemSize);
  char p[kWideItemSize];
  for (const Item& item : items) v.append(p, encode_item(item, p));
  return v;
}

// The contribution a key's records add up to (flags 0: none left).
policy::KeyChange fold(std::string key, const std::vector<Item>& items) {
  policy::KeyChange c;
  c.key = std::move(key);
  for (const Item& i : items) {
    c.flags |= i.flags;
    c.cats |= i.cats;
  }
  return c;
}

MDB_dbi open_state_db(MDB_txn* txn) {
  MDB_dbi dbi;
  policy::mdb_check(mdb_dbi_open(txn, policy::schema::kDbFeedRecords, MDB_CREATE, &dbi), "feed records DB");
  return dbi;
}

}  // namespace

std::string serial_version(uint32_t serial) { return "serial " + std::to_string(serial); }

std::optional<uint32_t> parse_serial_version(const std::string& version) {
  if (!version.starts_with("serial ")) return std::nullopt;
  uint32_t v = 0;
  const char* b = version.data() + 7;
  const char* e = version.data() + version.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) return std::nullopt;
  return v;
}

// ---- RpzRecords ----

RpzRecords::RpzRecords(std::string apex, CategorySet block, CategorySet allow,
                       const policy::PublicSuffixList* public_suffixes)
    : apex_(std::move(apex)), block_(block), allow_(allow), public_suffixes_(public_suffixes) {}

void RpzRecords::clear() {
  arena_.clear();
  steps_.clear();
}

const RpzRecords::Step& RpzRecords::step(size_t diff) const {
  static const Step kNone;
  return diff < steps_.size() ? steps_[diff] : kNone;
}

RpzRecords::Step& RpzRecords::step(size_t diff) {
  if (diff >= steps_.size()) steps_.resize(diff + 1);  // a transfer with no record there
  return steps_[diff];
}

void RpzRecords::record(Part part, size_t diff, const XfrRecord& rr) {
  if (diff >= steps_.size()) steps_.resize(diff + 1);
  Step& step = steps_[diff];
  ApplyReport& seen = step.seen;
  ++seen.records;
  policy::rpz_rule(rr.owner, rr.type, rr.one_name, rr.target, apex_, rule_);
  if (rule_.kind == policy::RpzRule::Kind::ignore) {
    ++seen.ignored;
    return;
  }
  char key[policy::kMaxKeyLen];
  uint8_t flags = rule_.flags;
  size_t n = 0;
  if (rule_.kind == policy::RpzRule::Kind::entry) {
    n = policy::entry_key(rule_.name, flags, name_, reason_, key);
    if (n == 0) rule_.reason = reason_;
  }
  if (n == 0) {
    if (++seen.refused == 1) seen.first_refusal = std::string(rr.owner) + ": " + rule_.reason;
    return;
  }
  // An added public suffix is refused as an entry (the guard then refuses the update); taking
  // one away is not (a deleted record's name may be anything).
  if (part != Part::removed && public_suffixes_ && !policy::is_ipv4_literal(name_) &&
      public_suffixes_->is_public_suffix(name_)) {
    const std::string why = std::string(rr.owner) + ": '" + name_ + "' is a public suffix";
    if (seen.public_suffixes++ == 0) seen.first_public_suffix = why;
    if (++seen.refused == 1) seen.first_refusal = why;
    return;
  }
  ++seen.entries;
  if (arena_.size() + n > UINT32_MAX) throw XfrError("the transfer's names are over 4 GiB; nothing written");
  const std::string_view k(key, n);
  Mapped m{key_word(k, 0), key_word(k, 8), record_hash(rr.owner, rr.type, rr.target),
           rule_.passthru, static_cast<uint32_t>(arena_.size()), static_cast<uint16_t>(n),
           flags};
  arena_.append(k);
  (part == Part::removed ? step.removed : step.added).push_back(m);
}

// ---- RpzApplier ----

RpzApplier::RpzApplier(policy::StoreWriter& writer, std::string source, std::string zone, CategorySet block,
                       FeedGuard guard)
    : source_(std::move(source)), block_(block), writer_(writer), guard_(guard), records_({}, {}, {}) {
  apex_ = zone;
  for (char& c : apex_)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (apex_.empty() || apex_.back() != '.') apex_ += '.';
  allow_.add(policy::allowlist_category_id());
  records_ = RpzRecords(apex_, block_, allow_, guard_.public_suffixes);
}

std::optional<policy::SourceInfo> RpzApplier::stored() {
  for (auto& s : writer_.sources())
    if (s.name == source_) return s;
  return std::nullopt;
}

std::optional<uint32_t> RpzApplier::stored_serial() {
  auto s = stored();
  if (!s) return std::nullopt;
  return parse_serial_version(s->version);
}

namespace {

// Sorts mapped records by key in LMDB's (memcmp) order, then by hash; two threads for big zones
// (sekisho-feed has the machine's second core to itself while it sorts).
void sort_by_key(std::vector<RpzRecords::Mapped>& v, const RpzRecords& records) {
  using M = RpzRecords::Mapped;
  auto less = [&](const M& a, const M& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (a.prefix2 != b.prefix2) return a.prefix2 < b.prefix2;
    if (a.size > 16 || b.size > 16) {
      const int c = records.key(a).substr(16).compare(records.key(b).substr(16));
      if (c != 0) return c < 0;
    } else if (a.size != b.size) {
      return a.size < b.size;
    }
    return a.hash < b.hash;
  };
  if (v.size() > 200000) {
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::thread t([&] { std::sort(v.begin(), mid, less); });
    std::sort(mid, v.end(), less);
    t.join();
    std::inplace_merge(v.begin(), mid, v.end(), less);
  } else {
    std::sort(v.begin(), v.end(), less);
  }
}

bool same_key(const RpzRecords::Mapped& a, const RpzRecords::Mapped& b, const RpzRecords& records) {
  return a.prefix == b.prefix && a.prefix2 == b.prefix2 && a.size == b.size &&
         (a.size <= 16 || records.key(a).substr(16) == records.key(b).substr(16));
}

// What the importer's checks read (policy::check_parsed, check_public_suffixes).
policy::ImportReport as_import_report(const ApplyReport& r) {
  policy::ImportReport i;
  i.lines = r.records;
  i.taken = r.entries;
  i.refused = r.refused;
  i.ignored = r.ignored;
  i.public_suffixes = r.public_suffixes;
  i.first_public_suffix = r.first_public_suffix;
  return i;
}

}  // namespace

ApplyReport RpzApplier::apply_axfr(const XfrResult& axfr, uint64_t max_entries) {
  RpzRecords::Step& step = records_.step(0);
  ApplyReport report = step.seen;
  // The importer's checks, on what the zone maps to (nothing sorted or written yet).
  const std::string what = "zone " + apex_ + " serial " + std::to_string(axfr.soa.serial);
  if (auto refusal = policy::check_parsed(as_import_report(report), what)) throw policy::UpdateRefused(*refusal);
  if (auto refusal = policy::check_public_suffixes(as_import_report(report), what))
    throw policy::UpdateRefused(*refusal);
  // SEKISHO_STORE_TIMING=1: phase times on stderr, as the store writer prints its own.
  const bool timing = std::getenv("SEKISHO_STORE_TIMING") != nullptr;
  auto t0 = std::chrono::steady_clock::now();
  auto phase = [&](const char* name) {
    if (!timing) return;
    const auto t = std::chrono::steady_clock::now();
    std::cerr << "  feed phase " << name << ": " << std::chrono::duration<double>(t - t0).count() << " s\n";
    t0 = t;
  };
  // Sorted by key then hash: each key's records are adjacent, its items in hash order, and the
  // keys in the order the B-trees take them (appends, no tree search).
  std::vector<RpzRecords::Mapped>& sorted = step.added;
  sort_by_key(sorted, records_);
  phase("sort");
  // Per key: the entry (the fold of its records) and its feed-records value (the items, one
  // per distinct record), values packed in one buffer.
  policy::EntrySet set;
  struct KeyItems {
    uint32_t first;         // index in `sorted` of the key's first record (its key)
    uint32_t offset, size;  // in `values`
  };
  std::vector<KeyItems> keys;
  std::string values;
  set.reserve(sorted.size(), records_.arena_bytes());
  keys.reserve(sorted.size());
  values.resize(sorted.size() * kWideItemSize);
  size_t used = 0;
  for (size_t i = 0; i < sorted.size();) {
    const size_t start = used;
    uint8_t flags = 0;
    CategorySet cats;
    size_t j = i;
    for (; j < sorted.size() && same_key(sorted[i], sorted[j], records_); ++j) {
      if (j > i && sorted[j].hash == sorted[j - 1].hash) continue;  // the same record twice
      const CategorySet record_cats = records_.categories(sorted[j]);
      used += encode_item(Item{sorted[j].hash, sorted[j].flags, record_cats}, values.data() + used);
      flags |= sorted[j].flags;
      cats |= record_cats;
    }
    set.add_domain(records_.key(sorted[i]), flags, cats);
    keys.push_back(KeyItems{static_cast<uint32_t>(i), static_cast<uint32_t>(start), static_cast<uint32_t>(used - start)});
    i = j;
  }
  values.resize(used);
  phase("fold");
  if (keys.size() > max_entries)
    throw XfrError("the zone maps to " + std::to_string(keys.size()) + " entries, over limits.max_entries (" +
                   std::to_string(max_entries) + "); nothing written");
  set.finalize();
  phase("entries");
  policy::SourceInfo info;
  info.name = source_;
  info.format = "rpz-xfr";
  info.origin = apex_;
  info.default_categories = block_;
  info.version = serial_version(axfr.soa.serial);
  // The feed-records DB is rewritten with the entries, in their transaction; the shrink guard
  // refuses inside it, once the entries it removes are counted, before the commit.
  report.write = policy::guarded_replace(writer_, info, set, nullptr, guard_.limits, [&](MDB_txn* txn) {
    MDB_dbi dbi = open_state_db(txn);
    const std::string prefix = state_key(source_, "");
    MDB_cursor* cur;
    policy::mdb_check(mdb_cursor_open(txn, dbi, &cur), "feed records cursor");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard_cur(cur, mdb_cursor_close);
    MDB_val k = policy::to_val(prefix), v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == MDB_SUCCESS && policy::from_val(k).starts_with(prefix);
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))  // a delete leaves the cursor before the next item
      policy::mdb_check(mdb_cursor_del(cur, 0), "feed records: delete");
    // Nothing after the source's range (one feed, or the last by name): its keys, in order, are
    // appended (full pages, no tree search).
    const unsigned flags = rc == MDB_NOTFOUND ? MDB_APPEND : 0;
    std::string sk = prefix;
    for (const KeyItems& ki : keys) {
      sk.resize(prefix.size());
      sk.append(records_.key(sorted[ki.first]));
      MDB_val nk = policy::to_val(sk), nv{ki.size, values.data() + ki.offset};
      policy::mdb_check(mdb_cursor_put(cur, &nk, &nv, flags), "feed records: write");
    }
  });
  phase("write");
  report.keys_changed = report.write.inserted + report.write.updated + report.write.removed;
  return report;
}

namespace {

// Per store key: record hashes a diff deletes, and items it adds (RFC 1995 §4: deletions first,
// then additions, within one serial step).
struct Edit {
  std::vector<uint64_t> removed;
  std::vector<Item> added;
};
using Edits = std::map<std::string, Edit, std::less<>>;  // in key order: the B-trees are walked forwards

// A key's records after an edit, sorted by hash.
void apply_edit(std::vector<Item>& items, const Edit& edit) {
  std::erase_if(items, [&](const Item& i) {
    return std::find(edit.removed.begin(), edit.removed.end(), i.hash) != edit.removed.end();
  });
  for (const Item& a : edit.added)
    if (std::none_of(items.begin(), items.end(), [&](const Item& i) { return i.hash == a.hash; })) items.push_back(a);
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.hash < b.hash; });
}

// The feed's records of `key` as stored (empty: none).
std::vector<Item> stored_items(MDB_txn* txn, MDB_dbi dbi, const std::string& state_key_text) {
  MDB_val k = policy::to_val(state_key_text), v;
  const int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return {};
  policy::mdb_check(rc, "feed records: read");
  return decode_items(policy::from_val(v));
}

// One diff's edits per store key (its added public suffixes were refused as the records came).
Edits edits_of(const RpzRecords::Step& step, const RpzRecords& records) {
  Edits edits;
  for (const auto& m : step.removed) edits[std::string(records.key(m))].removed.push_back(m.hash);
  for (const auto& m : step.added) edits[std::string(records.key(m))].added.push_back(Item{m.hash, m.flags, records.categories(m)});
  return edits;
}

}  // namespace

void RpzApplier::check_ixfr(const XfrResult& ixfr) {
  const auto source = stored();
  if (!source) return;  // apply_diff says so
  // The added public suffixes of every diff.
  ApplyReport report;
  for (size_t i = 0; i < ixfr.diffs.size(); ++i) {
    const ApplyReport& seen = records_.step(i).seen;
    if (report.public_suffixes == 0) report.first_public_suffix = seen.first_public_suffix;
    report.public_suffixes += seen.public_suffixes;
  }
  const std::string what = "IXFR to serial " + std::to_string(ixfr.diffs.empty() ? 0 : ixfr.diffs.back().to);
  if (auto refusal = policy::check_public_suffixes(as_import_report(report), what)) throw policy::UpdateRefused(*refusal);
  // The keys the diffs touch, as the whole IXFR would leave them; a key the feed held before
  // and holds nothing of after is an entry the IXFR removes.
  std::map<std::string, std::vector<Item>> after;
  std::map<std::string, bool> held;
  policy::TxnGuard txn(writer_.store().env(), MDB_RDONLY, "feed records");
  MDB_dbi dbi;
  const int rc = mdb_dbi_open(txn.get(), policy::schema::kDbFeedRecords, 0, &dbi);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) policy::mdb_check(rc, "feed records DB");
  for (size_t i = 0; i < ixfr.diffs.size(); ++i) {
    for (const auto& [key, edit] : edits_of(records_.step(i), records_)) {
      auto [it, fresh] = after.try_emplace(key);
      if (fresh) {
        if (rc == MDB_SUCCESS) it->second = stored_items(txn.get(), dbi, state_key(source_, key));
        held[key] = !it->second.empty();
      }
      apply_edit(it->second, edit);
    }
  }
  uint64_t removed = 0;
  for (const auto& [key, items] : after) removed += held[key] && items.empty();
  if (auto refusal = policy::check_removal(source->domain_entries + source->url_entries, removed, guard_.limits))
    throw policy::UpdateRefused({refusal->reason, what + ": " + refusal->message});
}

ApplyReport RpzApplier::apply_diff(const XfrResult& ixfr, size_t index) {
  const XfrDiff& diff = ixfr.diffs.at(index);
  const RpzRecords::Step& step = records_.step(index);
  ApplyReport report = step.seen;
  const Edits edits = edits_of(step, records_);
  policy::SourceInfo info;
  info.name = source_;
  info.version = serial_version(diff.to);
  report.write = writer_.apply_changes(info, [&](MDB_txn* txn) {
    MDB_dbi dbi = open_state_db(txn);
    std::vector<policy::KeyChange> changes;
    changes.reserve(edits.size());
    for (const auto& [key, edit] : edits) {
      const std::string sk = state_key(source_, key);
      MDB_val k = policy::to_val(sk);
      std::vector<Item> items = stored_items(txn, dbi, sk);
      const bool had = !items.empty();
      apply_edit(items, edit);
      if (items.empty()) {
        if (had) policy::mdb_check(mdb_del(txn, dbi, &k, nullptr), "feed records: delete");
      } else {
        const std::string sv = encode_items(items);
        MDB_val nv = policy::to_val(sv);
        policy::mdb_check(mdb_put(txn, dbi, &k, &nv, 0), "feed records: write");
      }
      changes.push_back(fold(key, items));
    }
    return changes;
  });
  report.keys_changed = report.write.inserted + report.write.updated + report.write.removed;
  return report;
}

}  // namespace sekisho::feed
