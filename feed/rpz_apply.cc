// feed/rpz_apply.cc — transferred RPZ records into the store (see rpz_apply.h).
#include "feed/rpz_apply.h"

#include <lmdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "policy/import/importer.h"
#include "policy/import/public_suffix.h"
#include "policy/import/rpz_rule.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

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
// form, lowercased (the TTL is not part of it: RFC 1995 deletions name records, not TTLs). Fixed
// here rather than std::hash, since the values are stored.
uint64_t record_hash(const ldns_rr* rr) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  // separator
  };
  mix(policy::rpz_rdf_text(ldns_rr_owner(rr)));
  const uint16_t type = static_cast<uint16_t>(ldns_rr_get_type(rr));
  mix(std::string_view(reinterpret_cast<const char*>(&type), 2));
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) mix(policy::rpz_rdf_text(ldns_rr_rdf(rr, i)));
  return h;
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

std::string encode_items(const std::vector<Item>& items) {
  std::string v;
  for (const Item& item : items) {
    const bool wide = !item.cats.fits_low_word();
    char p[kWideItemSize];
    std::memcpy(p, &item.hash, 8);
    p[8] = static_cast<char>(item.flags | (wide ? kWideItem : 0));
    for (unsigned w = 0; w < (wide ? CategorySet::kWords : 1u); ++w) {
      const uint64_t bits = item.cats.word(w);
      std::memcpy(p + 9 + 8 * w, &bits, 8);
    }
    v.append(p, wide ? kWideItemSize : kItemSize);
  }
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

// A mapped record: its store key and item, or why it does not map.
struct Mapped {
  bool entry = false;
  bool ignored = false;
  bool public_suffix = false;  // an entry whose name is a public suffix (refused when added)
  std::string key;
  Item item;
  std::string refusal;
};

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

RpzApplier::RpzApplier(policy::StoreWriter& writer, std::string source, std::string zone, CategorySet block,
                       FeedGuard guard)
    : source_(std::move(source)), block_(block), writer_(writer), guard_(guard) {
  apex_ = zone;
  for (char& c : apex_)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (apex_.empty() || apex_.back() != '.') apex_ += '.';
  allow_.add(policy::allowlist_category_id());
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

// `suffixes`: public suffixes to mark (null: none are).
Mapped map_record(const ldns_rr* rr, const std::string& apex, CategorySet block, CategorySet allow,
                  const policy::PublicSuffixList* suffixes) {
  Mapped m;
  const policy::RpzRule rule = policy::rpz_rule(rr, apex);
  if (rule.kind == policy::RpzRule::Kind::ignore) {
    m.ignored = true;
    return m;
  }
  if (rule.kind == policy::RpzRule::Kind::refuse) {
    m.refusal = policy::rpz_rdf_text(ldns_rr_owner(rr)) + ": " + rule.reason;
    return m;
  }
  uint8_t flags = rule.flags;
  std::string name, reason;
  char key[policy::kMaxKeyLen];
  const size_t n = policy::entry_key(rule.name, flags, name, reason, key);
  if (n == 0) {
    m.refusal = policy::rpz_rdf_text(ldns_rr_owner(rr)) + ": " + reason;
    return m;
  }
  m.entry = true;
  m.key.assign(key, n);
  if (suffixes && !policy::is_ipv4_literal(name) && suffixes->is_public_suffix(name)) {
    m.public_suffix = true;
    m.refusal = policy::rpz_rdf_text(ldns_rr_owner(rr)) + ": '" + name + "' is a public suffix";
  }
  m.item = Item{record_hash(rr), flags, (rule.passthru ? allow : block)};
  return m;
}

// An added record (AXFR, or IXFR addition): a public suffix is refused as an entry.
void count(ApplyReport& r, const Mapped& m) {
  ++r.records;
  if (m.entry && !m.public_suffix) ++r.entries;
  else if (m.ignored) ++r.ignored;
  else {
    if (m.public_suffix && r.public_suffixes++ == 0) r.first_public_suffix = m.refusal;
    if (++r.refused == 1) r.first_refusal = m.refusal;
  }
}

// A deleted record: taking an entry away is never refused (its name may be anything).
void count_deleted(ApplyReport& r, const Mapped& m) {
  ++r.records;
  if (m.entry) ++r.entries;
  else if (m.ignored) ++r.ignored;
  else if (++r.refused == 1) r.first_refusal = m.refusal;
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
  ApplyReport report;
  std::map<std::string, std::vector<Item>> state;
  policy::EntrySet set;
  for (const Rr& rr : axfr.records) {
    Mapped m = map_record(rr.get(), apex_, block_, allow_, guard_.public_suffixes);
    count(report, m);
    if (!m.entry || m.public_suffix) continue;
    auto& items = state[m.key];
    if (std::none_of(items.begin(), items.end(), [&](const Item& i) { return i.hash == m.item.hash; }))
      items.push_back(m.item);
  }
  // The importer's checks, on what the zone maps to (nothing written yet).
  const std::string what = "zone " + apex_ + " serial " + std::to_string(axfr.soa.serial);
  if (auto refusal = policy::check_parsed(as_import_report(report), what)) throw policy::UpdateRefused(*refusal);
  if (auto refusal = policy::check_public_suffixes(as_import_report(report), what))
    throw policy::UpdateRefused(*refusal);
  if (state.size() > max_entries)
    throw XfrError("the zone maps to " + std::to_string(state.size()) + " entries, over limits.max_entries (" +
                   std::to_string(max_entries) + "); nothing written");
  for (auto& [key, items] : state) {
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.hash < b.hash; });
    const policy::KeyChange c = fold(key, items);
    set.add_domain(key, c.flags, c.cats);
  }
  set.finalize();
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
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS && policy::from_val(k).starts_with(prefix);
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))  // a delete leaves the cursor before the next item
      policy::mdb_check(mdb_cursor_del(cur, 0), "feed records: delete");
    for (const auto& [key, items] : state) {
      const std::string sk = state_key(source_, key), sv = encode_items(items);
      MDB_val nk = policy::to_val(sk), nv = policy::to_val(sv);
      policy::mdb_check(mdb_put(txn, dbi, &nk, &nv, 0), "feed records: write");
    }
  });
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

// A diff's edits per store key; `suffixes`: public suffixes refused as added entries.
std::map<std::string, Edit> edits_of(const XfrDiff& diff, ApplyReport& report, const std::string& apex, CategorySet block,
                                     CategorySet allow, const policy::PublicSuffixList* suffixes) {
  std::map<std::string, Edit> edits;
  for (const Rr& rr : diff.removed) {
    Mapped m = map_record(rr.get(), apex, block, allow, nullptr);
    count_deleted(report, m);
    if (m.entry) edits[m.key].removed.push_back(m.item.hash);
  }
  for (const Rr& rr : diff.added) {
    Mapped m = map_record(rr.get(), apex, block, allow, suffixes);
    count(report, m);
    if (m.entry && !m.public_suffix) edits[m.key].added.push_back(m.item);
  }
  return edits;
}

}  // namespace

void RpzApplier::check_ixfr(const std::vector<XfrDiff>& diffs) {
  const auto source = stored();
  if (!source) return;  // apply_diff says so
  // The keys the diffs touch, as the whole IXFR would leave them; a key the feed held before
  // and holds nothing of after is an entry the IXFR removes.
  std::map<std::string, std::vector<Item>> after;
  std::map<std::string, bool> held;
  ApplyReport report;
  policy::TxnGuard txn(writer_.store().env(), MDB_RDONLY, "feed records");
  MDB_dbi dbi;
  const int rc = mdb_dbi_open(txn.get(), policy::schema::kDbFeedRecords, 0, &dbi);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) policy::mdb_check(rc, "feed records DB");
  for (const XfrDiff& diff : diffs) {
    for (const auto& [key, edit] : edits_of(diff, report, apex_, block_, allow_, guard_.public_suffixes)) {
      auto [it, fresh] = after.try_emplace(key);
      if (fresh) {
        if (rc == MDB_SUCCESS) it->second = stored_items(txn.get(), dbi, state_key(source_, key));
        held[key] = !it->second.empty();
      }
      apply_edit(it->second, edit);
    }
  }
  const std::string what = "IXFR to serial " + std::to_string(diffs.empty() ? 0 : diffs.back().to);
  if (auto refusal = policy::check_public_suffixes(as_import_report(report), what)) throw policy::UpdateRefused(*refusal);
  uint64_t removed = 0;
  for (const auto& [key, items] : after) removed += held[key] && items.empty();
  if (auto refusal = policy::check_removal(source->domain_entries + source->url_entries, removed, guard_.limits))
    throw policy::UpdateRefused({refusal->reason, what + ": " + refusal->message});
}

ApplyReport RpzApplier::apply_diff(const XfrDiff& diff) {
  ApplyReport report;
  const std::map<std::string, Edit> edits = edits_of(diff, report, apex_, block_, allow_, guard_.public_suffixes);
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
