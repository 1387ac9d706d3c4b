// feed/rpz_apply.cc — transferred RPZ records into the store (see rpz_apply.h).
#include "feed/rpz_apply.h"

#include <lmdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "policy/import/importer.h"
#include "policy/import/rpz_rule.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::feed {

using policy::CategorySet;

namespace {

constexpr size_t kItemSize = 17;  // u64 hash, u8 flags, u64 categories (little endian)

struct Item {
  uint64_t hash = 0;
  uint8_t flags = 0;
  uint64_t cats = 0;
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
  std::vector<Item> out(v.size() / kItemSize);
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = v.data() + i * kItemSize;
    std::memcpy(&out[i].hash, p, 8);
    out[i].flags = static_cast<uint8_t>(p[8]);
    std::memcpy(&out[i].cats, p + 9, 8);
  }
  return out;
}

std::string encode_items(const std::vector<Item>& items) {
  std::string v(items.size() * kItemSize, '\0');
  for (size_t i = 0; i < items.size(); ++i) {
    char* p = v.data() + i * kItemSize;
    std::memcpy(p, &items[i].hash, 8);
    p[8] = static_cast<char>(items[i].flags);
    std::memcpy(p + 9, &items[i].cats, 8);
  }
  return v;
}

// The contribution a key's records add up to (flags 0: none left).
policy::KeyChange fold(std::string key, const std::vector<Item>& items) {
  policy::KeyChange c;
  c.key = std::move(key);
  for (const Item& i : items) {
    c.flags |= i.flags;
    c.cats |= CategorySet(i.cats);
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

RpzApplier::RpzApplier(policy::StoreWriter& writer, std::string source, std::string zone, CategorySet block)
    : source_(std::move(source)), block_(block), writer_(writer) {
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

Mapped map_record(const ldns_rr* rr, const std::string& apex, CategorySet block, CategorySet allow) {
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
  m.item = Item{record_hash(rr), flags, (rule.passthru ? allow : block).bits()};
  return m;
}

void count(ApplyReport& r, const Mapped& m) {
  ++r.records;
  if (m.entry) ++r.entries;
  else if (m.ignored) ++r.ignored;
  else if (++r.refused == 1) r.first_refusal = m.refusal;
}

}  // namespace

ApplyReport RpzApplier::apply_axfr(const XfrResult& axfr, uint64_t max_entries, const ReplaceGuard& guard) {
  ApplyReport report;
  std::map<std::string, std::vector<Item>> state;
  policy::EntrySet set;
  for (const Rr& rr : axfr.records) {
    Mapped m = map_record(rr.get(), apex_, block_, allow_);
    count(report, m);
    if (!m.entry) continue;
    auto& items = state[m.key];
    if (std::none_of(items.begin(), items.end(), [&](const Item& i) { return i.hash == m.item.hash; }))
      items.push_back(m.item);
  }
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
  if (guard) {
    policy::SourceInfo before;
    if (auto s = stored()) before = *s;
    if (std::string why = guard(before, set); !why.empty()) throw XfrError(why);
  }
  // The feed-records DB is rewritten with the entries, in their transaction.
  report.write = writer_.replace_source(info, set, nullptr, {}, [&](MDB_txn* txn) {
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

ApplyReport RpzApplier::apply_diff(const XfrDiff& diff) {
  ApplyReport report;
  // Per store key: record hashes the diff deletes, and items it adds (RFC 1995 §4: deletions
  // first, then additions, within one serial step).
  struct Edit {
    std::vector<uint64_t> removed;
    std::vector<Item> added;
  };
  std::map<std::string, Edit> edits;
  for (const Rr& rr : diff.removed) {
    Mapped m = map_record(rr.get(), apex_, block_, allow_);
    count(report, m);
    if (m.entry) edits[m.key].removed.push_back(m.item.hash);
  }
  for (const Rr& rr : diff.added) {
    Mapped m = map_record(rr.get(), apex_, block_, allow_);
    count(report, m);
    if (m.entry) edits[m.key].added.push_back(m.item);
  }
  policy::SourceInfo info;
  info.name = source_;
  info.version = serial_version(diff.to);
  report.write = writer_.apply_changes(info, [&](MDB_txn* txn) {
    MDB_dbi dbi = open_state_db(txn);
    std::vector<policy::KeyChange> changes;
    changes.reserve(edits.size());
    for (const auto& [key, edit] : edits) {
      const std::string sk = state_key(source_, key);
      MDB_val k = policy::to_val(sk), v;
      std::vector<Item> items;
      int rc = mdb_get(txn, dbi, &k, &v);
      if (rc == MDB_SUCCESS) items = decode_items(policy::from_val(v));
      else policy::mdb_check(rc == MDB_NOTFOUND ? MDB_SUCCESS : rc, "feed records: read");
      // Through a reference of its own: clang 14 (the sanitizer trees' compiler) cannot capture
      // a structured binding in a lambda.
      const auto& removed = edit.removed;
      std::erase_if(items, [&](const Item& i) { return std::find(removed.begin(), removed.end(), i.hash) != removed.end(); });
      for (const Item& a : edit.added)
        if (std::none_of(items.begin(), items.end(), [&](const Item& i) { return i.hash == a.hash; })) items.push_back(a);
      std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.hash < b.hash; });
      if (items.empty()) {
        if (rc == MDB_SUCCESS) policy::mdb_check(mdb_del(txn, dbi, &k, nullptr), "feed records: delete");
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
