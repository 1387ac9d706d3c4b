// policy/store/store_writer.cc — one write transaction per import (see store_writer.h).
//
// Two write paths:
//  - fresh: the source had no entries. Each new key is inserted or merged with MDB_SET; keys
//    beyond the DB's last key are written with MDB_APPEND (the bulk of a first import), which
//    fills pages completely and skips the tree search.
//  - replace: merge-join of the whole DB (cursor order) with the sorted new keys, so contributions
//    of this source on keys absent from the new feed are found and removed. O(DB size), one
//    sequential pass.
#include "policy/store/store_writer.h"

#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <map>
#include <thread>
#include <unordered_map>

#include "policy/store/category_store.h"
#include "policy/store/category_table.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/name_index.h"
#include "policy/store/schema.h"
#include "policy/store/url_form.h"
#include "policy/store/value_layout.h"

namespace sekisho::policy {

// ---- EntrySet ----

void EntrySet::reserve(size_t items, size_t bytes) {
  domains_.reserve(items);
  arena_.reserve(bytes);
}

namespace {
// Bytes [from, from+8) of a+b as a big-endian word, zero-padded.
uint64_t key_word(std::string_view a, std::string_view b, size_t from) {
  unsigned char w[8] = {};
  for (size_t i = 0; i < 8; ++i) {
    size_t j = from + i;
    if (j < a.size()) w[i] = static_cast<unsigned char>(a[j]);
    else if (j - a.size() < b.size()) w[i] = static_cast<unsigned char>(b[j - a.size()]);
    else break;
  }
  uint64_t p = 0;
  for (unsigned char c : w) p = (p << 8) | c;
  return p;
}

struct CategorySetHash {
  size_t operator()(const CategorySet& s) const {
    uint64_t h = 0;
    for (unsigned i = 0; i < CategorySet::kWords; ++i) h = (h ^ s.word(i)) * 0x9fb21c651e98df25ULL;
    return h ^ (h >> 29);
  }
};
using SetIds = std::unordered_map<CategorySet, uint32_t, CategorySetHash>;

}  // namespace

uint32_t EntrySet::intern(const CategorySet& s) {
  if (last_set_ != UINT32_MAX && sets_[last_set_] == s) return last_set_;
  if (!set_ids_) set_ids_ = std::make_shared<SetIds>();
  auto& ids = *static_cast<SetIds*>(set_ids_.get());
  auto [it, added] = ids.try_emplace(s, static_cast<uint32_t>(sets_.size()));
  if (added) sets_.push_back(s);
  return last_set_ = it->second;
}

void EntrySet::add_domain(std::string_view key, uint8_t flags, CategorySet cats) {
  domains_.push_back(Item{key_word(key, {}, 0), key_word(key, {}, 8), intern(cats),
                          static_cast<uint32_t>(arena_.size()), static_cast<uint16_t>(key.size()), flags});
  arena_.append(key);
}

void EntrySet::add_url(std::string_view host_key, std::string_view path, CategorySet cats) {
  add_domain(host_key, kFlagUrl, CategorySet{});
  const size_t offset = arena_.size();
  arena_.append(host_key);
  arena_.push_back('/');
  arena_.append(path);
  // The prefix words must be those of the whole key (host, '/', path).
  std::string_view key(arena_.data() + offset, arena_.size() - offset);
  urls_.push_back(Item{key_word(key, {}, 0), key_word(key, {}, 8), intern(cats), static_cast<uint32_t>(offset),
                       static_cast<uint16_t>(key.size()), kFlagUrl});
}

void EntrySet::append(EntrySet&& other) {
  if (domains_.empty() && urls_.empty() && arena_.empty()) {
    *this = std::move(other);
    return;
  }
  const uint32_t base = static_cast<uint32_t>(arena_.size());
  arena_.append(other.arena_);
  domains_.reserve(domains_.size() + other.domains_.size());
  std::vector<uint32_t> ids(other.sets_.size());
  for (size_t n = 0; n < ids.size(); ++n) ids[n] = intern(other.sets_[n]);
  for (Item i : other.domains_) i.offset += base, i.cats = ids[i.cats], domains_.push_back(i);
  for (Item i : other.urls_) i.offset += base, i.cats = ids[i.cats], urls_.push_back(i);
  other = EntrySet();
}

namespace {

// Above this many items, sorting and laying out keys split the work over two threads.
constexpr size_t kTwoThreadItems = 200000;

}  // namespace

void EntrySet::sort_merge(std::vector<Item>& items) {
  const EntrySet& set = *this;
  // Two prefix words first: equal ones are rare, so the arena (random memory) is seldom touched.
  // Zero-padding keeps the order identical to memcmp order for shorter keys (keys hold no NUL),
  // and equal prefix words with a key of 16 bytes or less mean equal keys.
  auto less = [&](const EntrySet::Item& a, const EntrySet::Item& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (a.prefix2 != b.prefix2) return a.prefix2 < b.prefix2;
    if (a.size <= 16 || b.size <= 16) return a.size < b.size;
    return set.key(a).substr(16) < set.key(b).substr(16);
  };
  auto same = [&](const EntrySet::Item& a, const EntrySet::Item& b) {
    return a.prefix == b.prefix && a.prefix2 == b.prefix2 && a.size == b.size &&
           (a.size <= 16 || set.key(a).substr(16) == set.key(b).substr(16));
  };
  if (std::is_sorted(items.begin(), items.end(), less)) {
    // Already in key order (a feed's keys, sorted with their records): one pass, no sort.
  } else if (items.size() > kTwoThreadItems) {
    // Two cores: sort halves in parallel, then merge.
    auto mid = items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2);
    std::thread t([&] { std::sort(items.begin(), mid, less); });
    std::sort(mid, items.end(), less);
    t.join();
    std::inplace_merge(items.begin(), mid, items.end(), less);
  } else {
    std::sort(items.begin(), items.end(), less);
  }
  size_t w = 0;
  for (size_t r = 0; r < items.size(); ++r) {
    if (w > 0 && same(items[w - 1], items[r])) {
      if (items[w - 1].cats != items[r].cats) items[w - 1].cats = intern(sets_[items[w - 1].cats] | sets_[items[r].cats]);
      items[w - 1].flags |= items[r].flags;
    } else {
      items[w++] = items[r];
    }
  }
  items.resize(w);
  // A subtree claim includes the exact one; keep one domain flag per contribution.
  for (auto& i : items)
    if (i.flags & kFlagSubtree) i.flags &= static_cast<uint8_t>(~kFlagExact);
}

void EntrySet::finalize() {
  sort_merge(domains_);
  sort_merge(urls_);
  lay_out_in_order();
}

void EntrySet::lay_out_in_order() {
  // Keys added in order, none merged away: the arena is laid out already.
  size_t at = 0;
  bool in_order = true;
  for (const auto* items : {&domains_, &urls_})
    for (const Item& i : *items) {
      in_order = in_order && i.offset == at;
      at += i.size;
    }
  if (in_order && at == arena_.size()) return;
  size_t domain_bytes = 0, url_bytes = 0;
  for (const Item& i : domains_) domain_bytes += i.size;
  for (const Item& i : urls_) url_bytes += i.size;
  std::string sorted;
  sorted.resize(domain_bytes + url_bytes);
  // Copies items [from, to) to `at` on; each key is fetched 16 items ahead of its copy.
  auto copy = [&](std::vector<Item>& items, size_t from, size_t to, size_t at) {
    for (size_t n = from; n < to; ++n) {
      if (n + 16 < to) __builtin_prefetch(arena_.data() + items[n + 16].offset);
      std::memcpy(sorted.data() + at, arena_.data() + items[n].offset, items[n].size);
      items[n].offset = static_cast<uint32_t>(at);
      at += items[n].size;
    }
  };
  if (domains_.size() > kTwoThreadItems) {
    const size_t mid = domains_.size() / 2;
    size_t first_bytes = 0;
    for (size_t n = 0; n < mid; ++n) first_bytes += domains_[n].size;
    std::thread t([&] { copy(domains_, mid, domains_.size(), first_bytes); });
    copy(domains_, 0, mid, 0);
    t.join();
  } else {
    copy(domains_, 0, domains_.size(), 0);
  }
  copy(urls_, 0, urls_.size(), domain_bytes);
  arena_ = std::move(sorted);
}

uint64_t EntrySet::domain_entries() const {
  uint64_t n = 0;
  for (const auto& i : domains_)
    if (i.flags & (kFlagSubtree | kFlagExact)) ++n;
  return n;
}

// ---- source records ----

namespace {

// A source's categories: the 64-bit number records always had while its ids fit (older
// versions read those), else "ids:3,200".
std::string encode_category_field(const CategorySet& s) {
  if (s.fits_low_word()) return std::to_string(s.word(0));
  std::string out = "ids:";
  s.for_each([&](uint8_t id) { out += (out.size() > 4 ? "," : "") + std::to_string(id); });
  return out;
}

bool decode_category_field(std::string_view v, CategorySet& out) {
  out = CategorySet{};
  if (!v.starts_with("ids:")) {
    uint64_t bits = 0;
    const bool ok = std::from_chars(v.data(), v.data() + v.size(), bits).ec == std::errc{};
    out = CategorySet::from_low_word(bits);
    return ok;
  }
  v.remove_prefix(4);
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view one = v.substr(0, comma);
    unsigned id = 0;
    if (std::from_chars(one.data(), one.data() + one.size(), id).ec != std::errc{} || id >= kMaxCategories) return false;
    out.add(static_cast<uint8_t>(id));
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
  }
  return true;
}

}  // namespace

std::string encode_source(const SourceInfo& s) {
  auto clean = [](std::string v) {
    std::replace(v.begin(), v.end(), '\t', ' ');
    return v;
  };
  return std::to_string(s.id) + '\t' + clean(s.format) + '\t' + clean(s.origin) + '\t' +
         encode_category_field(s.default_categories) + '\t' + std::to_string(s.domain_entries) +
         '\t' + std::to_string(s.url_entries) + '\t' + std::to_string(s.updated) +
         // Only when there is one: records without it stay readable by older versions.
         (s.version.empty() ? std::string() : '\t' + clean(s.version));
}

bool decode_source(std::string_view name, std::string_view value, SourceInfo& out) {
  std::vector<std::string_view> f;
  size_t start = 0;
  while (true) {
    size_t tab = value.find('\t', start);
    f.push_back(value.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  if (f.size() != 7 && f.size() != 8) return false;
  auto num = [](std::string_view v, auto& x) {
    return std::from_chars(v.data(), v.data() + v.size(), x).ec == std::errc{};
  };
  out.name = std::string(name);
  out.format = std::string(f[1]);
  out.origin = std::string(f[2]);
  bool ok = num(f[0], out.id) && decode_category_field(f[3], out.default_categories) &&
            num(f[4], out.domain_entries) && num(f[5], out.url_entries) && num(f[6], out.updated);
  out.version = f.size() == 8 ? std::string(f[7]) : std::string();
  return ok;
}

// ---- StoreWriter ----

StoreWriter::StoreWriter(const std::string& path, const CategoryRegistry& registry)
    : registry_(registry),
      store_(CategoryStore::open(path, {.read_only = false, .create_if_missing = true, .registry = &registry})) {}

StoreWriter::~StoreWriter() = default;

namespace {

struct Dbs {
  MDB_dbi domains, urls, categories, sources, meta;
};

uint64_t get_u64(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key), v;
  uint64_t x = 0;
  if (mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS && v.mv_size == 8) std::memcpy(&x, v.mv_data, 8);
  return x;
}

void put_u64(MDB_txn* txn, MDB_dbi dbi, std::string_view key, uint64_t x) {
  MDB_val k = to_val(key), v{8, &x};
  mdb_check(mdb_put(txn, dbi, &k, &v, 0), std::string("write meta ") + std::string(key));
}

// Makes `generation` current for readers (their index views and name memos are keyed on it),
// stamped with the time of the change: what every committed write, import or compaction does.
void publish_generation(MDB_txn* txn, MDB_dbi meta, uint64_t generation) {
  put_u64(txn, meta, schema::kMetaGeneration, generation);
  put_u64(txn, meta, schema::kMetaLastUpdate, static_cast<uint64_t>(std::time(nullptr)));
}

// Sets (or removes, if c.flags == 0) source c.source_id's contribution in contribs.
void set_contribution(std::vector<Contribution>& contribs, const Contribution& c) {
  auto it = std::lower_bound(contribs.begin(), contribs.end(), c.source_id,
                             [](const Contribution& a, uint16_t id) { return a.source_id < id; });
  bool present = it != contribs.end() && it->source_id == c.source_id;
  if (c.flags == 0) {
    if (present) contribs.erase(it);
  } else if (present) {
    *it = c;
  } else {
    if (contribs.size() >= 255) throw StoreError("entry has 255 contributing sources already");
    contribs.insert(it, c);
  }
}

// Re-keys the urls DB of a store written before the canonical URL form (schema.h
// kMetaUrlKeyForm) in the caller's write transaction, so the store changes form atomically with
// the import or compaction that does it. Keys that become one merge their contributions (a
// source's flags and categories united). A key whose canonical form would not fit (it cannot be
// matched as it is either) keeps its old form. Returns whether anything was written.
bool migrate_url_keys(MDB_txn* txn, MDB_dbi urls, MDB_dbi meta, const std::string& what) {
  if (get_u64(txn, meta, schema::kMetaUrlKeyForm) >= schema::kUrlKeyForm) return false;
  std::map<std::string, std::vector<Contribution>> rekeyed;
  bool changed = false;
  {
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn, urls, &cur), what + ": urls cursor");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
    MDB_val k, v;
    EntryHeader header;
    std::vector<Contribution> contribs;
    std::string key;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      const std::string_view old_key = from_val(k);
      const size_t slash = old_key.find('/');
      if (slash == std::string_view::npos ||
          !url::key_of(old_key.substr(0, slash), url::split_target(old_key.substr(slash + 1)), key))
        key.assign(old_key);
      if (!decode_entry(from_val(v), header, contribs))
        throw StoreError(what + ": corrupt url entry " + std::string(old_key));
      changed = changed || key != old_key;
      std::vector<Contribution>& into = rekeyed[key];
      for (const Contribution& c : contribs) {
        auto it = std::find_if(into.begin(), into.end(), [&](const Contribution& x) { return x.source_id == c.source_id; });
        if (it == into.end()) {
          into.push_back(c);
        } else {
          it->flags |= c.flags;
          it->cats |= c.cats;
        }
      }
    }
    if (rc != MDB_NOTFOUND) mdb_check(rc, what + ": read urls");
  }
  if (changed) {
    mdb_check(mdb_drop(txn, urls, 0), what + ": empty urls for re-keying");
    std::string value;
    for (auto& [key, contribs] : rekeyed) {
      std::sort(contribs.begin(), contribs.end(),
                [](const Contribution& a, const Contribution& b) { return a.source_id < b.source_id; });
      encode_entry(contribs, value);
      MDB_val k = to_val(key), v = to_val(value);
      mdb_check(mdb_put(txn, urls, &k, &v, MDB_APPEND), what + ": write url entry " + key);
    }
    // Merged keys: the sources' records count their URL entries anew (`verify` compares them).
    std::map<uint16_t, uint64_t> per_source;
    for (const auto& [key, contribs] : rekeyed)
      for (const Contribution& c : contribs) ++per_source[c.source_id];
    MDB_dbi sources;
    if (mdb_dbi_open(txn, schema::kDbSources, 0, &sources) == MDB_SUCCESS) {
      std::vector<SourceInfo> recount;
      MDB_cursor* cur;
      mdb_check(mdb_cursor_open(txn, sources, &cur), what + ": sources");
      MDB_val k, v;
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        SourceInfo s;
        if (decode_source(from_val(k), from_val(v), s) && s.url_entries != per_source[s.id]) {
          s.url_entries = per_source[s.id];
          recount.push_back(std::move(s));
        }
      }
      mdb_cursor_close(cur);
      for (const SourceInfo& s : recount) {
        const std::string rec = encode_source(s);
        MDB_val nk = to_val(s.name), nv = to_val(rec);
        mdb_check(mdb_put(txn, sources, &nk, &nv, 0), what + ": recount source " + s.name);
      }
    }
  }
  put_u64(txn, meta, schema::kMetaUrlKeyForm, schema::kUrlKeyForm);
  return true;
}

struct Applier {
  MDB_txn* txn;
  MDB_dbi dbi;
  uint16_t sid;
  const EntrySet& set;
  WriteResult& result;
  std::vector<Contribution> contribs;
  std::string value;
  EntryHeader header;
  // Domains keys this txn inserted, changed or deleted (for a delta index); nullptr: not wanted.
  std::vector<std::string>* touched = nullptr;
  size_t touched_cap = 0;
  bool touched_overflow = false;
  void touch(std::string_view key) {
    if (!touched || touched_overflow) return;
    if (touched->size() >= touched_cap) {
      touched_overflow = true;
      touched->clear();
      return;
    }
    touched->emplace_back(key);
  }

  // Whether a contribution with these flags is an entry a user counts: a domain entry, not a
  // URL-host marker; every contribution in the urls DB is a URL entry.
  bool urls_db = false;
  bool counts(uint8_t flags) const { return urls_db || (flags & (kFlagSubtree | kFlagExact)); }

  Contribution contribution(const EntrySet::Item& i) const {
    return Contribution{sid, i.flags, set.cats(i)};
  }

  void fresh(const std::vector<EntrySet::Item>& items, const std::string& what) {
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn, dbi, &cur), what + ": cursor");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
    MDB_val k, v;
    std::string last;
    bool append = false;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND) append = true;
    else {
      mdb_check(rc, what + ": last key");
      last = std::string(from_val(k));
    }
    // Appended keys carry exactly one contribution: encoded in place, no allocation per key.
    unsigned char one[kMaxSingleEntrySize];
    for (size_t n = 0; n < items.size(); ++n) {
      const auto& item = items[n];
      std::string_view key = set.key(item);
      if (!append && key > last) append = true;  // from here on all keys sort after the DB
      if (append) {
        k = to_val(key);
        v = MDB_val{encode_single(contribution(item), one), one};
        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
        if (rc != MDB_SUCCESS) mdb_check(rc, what + ": write " + std::string(key));
        touch(key);
        ++result.inserted;
        continue;
      }
      contribs.clear();
      k = to_val(key);
      rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
      if (rc == MDB_SUCCESS) {
        if (!decode_entry(from_val(v), header, contribs))
          throw StoreError(what + ": corrupt entry " + std::string(key));
      } else if (rc != MDB_NOTFOUND) {
        mdb_check(rc, what + ": read " + std::string(key));
      }
      bool existed = !contribs.empty();
      set_contribution(contribs, contribution(item));
      encode_entry(contribs, value);
      k = to_val(key);
      v = to_val(value);
      rc = mdb_cursor_put(cur, &k, &v, 0);
      if (rc != MDB_SUCCESS) mdb_check(rc, what + ": write " + std::string(key));
      touch(key);
      ++(existed ? result.updated : result.inserted);
    }
  }

  // Merge-join of the DB with the new items; removes this source from keys not in items.
  void replace(const std::vector<EntrySet::Item>& items, const std::string& what) {
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn, dbi, &cur), what + ": cursor");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
    MDB_val k, v;
    size_t i = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (true) {
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) mdb_check(rc, what + ": scan");
      bool have_db = rc == MDB_SUCCESS;
      if (!have_db && i == items.size()) break;
      int cmp;
      if (!have_db) cmp = 1;
      else if (i == items.size()) cmp = -1;
      else {
        int c = from_val(k).compare(set.key(items[i]));
        cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
      }
      if (cmp > 0) {  // new key for the DB
        contribs.clear();
        set_contribution(contribs, contribution(items[i]));
        encode_entry(contribs, value);
        MDB_val nk = to_val(set.key(items[i])), nv = to_val(value);
        int prc = mdb_cursor_put(cur, &nk, &nv, have_db ? MDB_NOOVERWRITE : MDB_APPEND);
        if (prc != MDB_SUCCESS) mdb_check(prc, what + ": insert " + std::string(set.key(items[i])));
        touch(set.key(items[i]));
        ++result.inserted;
        ++i;
        rc = have_db ? mdb_cursor_get(cur, &k, &v, MDB_NEXT) : MDB_NOTFOUND;
        continue;
      }
      // Copy of the key (the page under the cursor may be rewritten below); no allocation.
      char kbuf[kMaxUrlKeyLen + 1];
      const size_t klen = std::min(k.mv_size, sizeof kbuf);
      std::memcpy(kbuf, k.mv_data, klen);
      const std::string_view key(kbuf, klen);
      if (!decode_entry(from_val(v), header, contribs))
        throw StoreError(what + ": corrupt entry " + std::string(key));
      auto mine = std::find_if(contribs.begin(), contribs.end(),
                               [&](const Contribution& c) { return c.source_id == sid; });
      const bool had = mine != contribs.end();
      if (cmp < 0 && !had) {  // untouched by this source
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        continue;
      }
      Contribution c = cmp == 0 ? contribution(items[i]) : Contribution{sid, 0, {}};
      if (had && counts(mine->flags) && (c.flags == 0 || !counts(c.flags))) ++result.removed_entries;
      set_contribution(contribs, c);
      touch(key);
      if (contribs.empty()) {
        int drc = mdb_cursor_del(cur, 0);
        if (drc != MDB_SUCCESS) mdb_check(drc, what + ": delete " + std::string(key));
        ++result.removed;
      } else {
        encode_entry(contribs, value);
        MDB_val nk = to_val(key), nv = to_val(value);
        int prc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT);
        if (prc != MDB_SUCCESS) mdb_check(prc, what + ": rewrite " + std::string(key));
        ++(cmp == 0 ? result.updated : result.removed);
      }
      if (cmp == 0) ++i;
      // After a delete LMDB leaves the cursor on the following item; MDB_NEXT returns it.
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
  }
};

// SEKISHO_STORE_TIMING=1: phase times on stderr (benchmark breakdown).
struct PhaseTimer {
  bool on = std::getenv("SEKISHO_STORE_TIMING") != nullptr;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  void operator()(const char* name) {
    if (!on) return;
    const auto t = std::chrono::steady_clock::now();
    std::cerr << "  write phase " << name << ": " << std::chrono::duration<double>(t - t0).count() << " s\n";
    t0 = t;
  }
};

// Test hook for the kill -9 tests (`sekisho db import`, sekisho-feed): all pages of the write
// are in place but not committed.
void pause_before_commit_for_test() {
  if (const char* pause = std::getenv("SEKISHO_PAUSE_BEFORE_COMMIT_FOR_TEST")) {
    std::cerr << "pausing before commit\n" << std::flush;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(pause)));
  }
}

// Sets info.id to the id of the source named info.name (returns true; `stored`, if given, gets
// its record) or to the smallest unused id (returns false).
bool find_source(MDB_txn* txn, MDB_dbi sources, const std::string& what, SourceInfo& info, SourceInfo* stored) {
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn, sources, &cur), what + ": sources");
  std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
  std::vector<bool> used(65536, false);
  bool existed = false;
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    SourceInfo s;
    if (!decode_source(from_val(k), from_val(v), s)) continue;
    used[s.id] = true;
    if (s.name == info.name) {
      existed = true;
      info.id = s.id;
      if (stored) *stored = s;
    }
  }
  if (existed) return true;
  uint16_t id = 1;
  while (id != 0 && used[id]) ++id;
  if (id == 0) throw StoreError(what + ": too many sources (65535)");
  info.id = id;
  return false;
}

}  // namespace

WriteResult StoreWriter::write(const SourceInfo& info_in, const EntrySet& entries, bool remove,
                               const CategoryRegistry& registry,
                               const std::function<void(const WriteResult&)>& before_commit, const InTxn& also) {
  const std::string what = store_->path() + ": source " + info_in.name;
  TxnGuard txn(store_->env(), 0, what);
  Dbs dbs{store_->domains_dbi(), store_->urls_dbi(), 0, 0, store_->meta_dbi()};
  mdb_check(mdb_dbi_open(txn.get(), schema::kDbCategories, MDB_CREATE, &dbs.categories), what);
  // Before any work: a categories file that renumbers stored ids must not get its entries in.
  check_category_table(txn.get(), what, registry);
  mdb_check(mdb_dbi_open(txn.get(), schema::kDbSources, MDB_CREATE, &dbs.sources), what);
  // Before the entries' merge-join, which expects the store's keys in the entries' form.
  migrate_url_keys(txn.get(), dbs.urls, dbs.meta, what);

  // Find the source's id, or allocate the smallest unused one.
  SourceInfo info = info_in;
  SourceInfo stored;
  bool existed = find_source(txn.get(), dbs.sources, what, info, &stored);
  if (!existed && remove) throw StoreError(what + ": no such source");
  const uint64_t previous_entries = existed ? stored.domain_entries + stored.url_entries : 0;

  PhaseTimer phase;
  const bool timing = phase.on;
  WriteResult result;
  result.generation = get_u64(txn.get(), dbs.meta, schema::kMetaGeneration) + 1;
  result.previous_entries = previous_entries;
  // First import into an empty DB: the DB will hold exactly these entries (one contribution
  // each), so the index is built from them on the second core while the B-tree is written.
  MDB_stat dstat;
  mdb_check(mdb_stat(txn.get(), dbs.domains, &dstat), what + ": stat");
  std::unique_ptr<name_index::Builder> early;
  std::exception_ptr early_error;
  std::thread early_thread;
  if (!existed && !remove && dstat.ms_entries == 0) {
    early = std::make_unique<name_index::Builder>(entries.domains().size(), result.generation);
    early_thread = std::thread([&] {
      try {
        const auto start = std::chrono::steady_clock::now();
        EntryHeader h;
        for (const auto& item : entries.domains()) {
          // The header the written value folds to (one contribution).
          h.all = entries.cats(item);
          h.subtree = (item.flags & kFlagSubtree) ? h.all : CategorySet{};
          h.flags = item.flags;
          h.count = 1;
          early->add(entries.key(item), h);
        }
        if (timing)
          std::cerr << "  index build (second core): "
                    << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
      } catch (...) {
        early_error = std::current_exception();
      }
    });
  }
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{early_thread};
  Applier domains{txn.get(), dbs.domains, info.id, entries, result, {}, {}, {}};
  std::vector<std::string> touched;
  if (!early) {
    domains.touched = &touched;
    domains.touched_cap = name_index::delta_limit(dstat.ms_entries);
  }
  Applier urls{txn.get(), dbs.urls, info.id, entries, result, {}, {}, {}};
  urls.urls_db = true;
  if (existed) {
    domains.replace(entries.domains(), what + ": domains");
    urls.replace(entries.urls(), what + ": urls");
  } else {
    domains.fresh(entries.domains(), what + ": domains");
    urls.fresh(entries.urls(), what + ": urls");
  }
  phase("entries");
  if (before_commit) before_commit(result);  // throwing aborts the txn (its guard): nothing written

  MDB_val k = to_val(info.name);
  if (remove) {
    mdb_check(mdb_del(txn.get(), dbs.sources, &k, nullptr), what + ": delete source record");
  } else {
    info.domain_entries = entries.domain_entries();
    info.url_entries = entries.urls().size();
    info.updated = static_cast<int64_t>(std::time(nullptr));
    std::string rec = encode_source(info);
    MDB_val v = to_val(rec);
    mdb_check(mdb_put(txn.get(), dbs.sources, &k, &v, 0), what + ": write source record");
  }
  write_category_table(txn.get(), what, registry);
  // The lookup index of the new generation, in the same txn (readers never mix generations).
  if (early) {
    early_thread.join();
    if (early_error) std::rethrow_exception(early_error);
    early->write(txn.get(), store_->index_dbi());
  } else {
    // Small changes: a delta over the untouched base; large ones: a new base.
    name_index::update(txn.get(), dbs.domains, store_->index_dbi(), result.generation,
                       domains.touched_overflow ? nullptr : &touched);
  }
  phase("index");
  put_u64(txn.get(), dbs.meta, schema::kMetaSchemaVersion, schema::kSchemaVersion);
  publish_generation(txn.get(), dbs.meta, result.generation);

  if (also) also(txn.get());
  pause_before_commit_for_test();
  txn.commit(what);
  phase("commit");
  return result;
}

namespace {

template <typename F>
auto with_map_growth(CategoryStore& store, F&& f) -> decltype(f()) {
  for (int attempt = 0;; ++attempt) {
    try {
      return f();
    } catch (const StoreError& e) {
      if (e.code() != MDB_MAP_FULL || attempt >= 8) throw;
      // The txn was aborted by its guard; grow the map and redo the whole import.
      MDB_envinfo info;
      mdb_env_info(store.env(), &info);
      mdb_check(mdb_env_set_mapsize(store.env(), info.me_mapsize * 2), store.path() + ": grow map");
      store.note_map_moved();
    }
  }
}

}  // namespace

WriteResult StoreWriter::replace_source(const SourceInfo& info, const EntrySet& entries, const CategoryRegistry* registry,
                                        const std::function<void(const WriteResult&)>& before_commit,
                                        const InTxn& also) {
  return with_map_growth(*store_, [&] {
    return write(info, entries, false, registry ? *registry : registry_, before_commit, also);
  });
}

WriteResult StoreWriter::apply_changes(const SourceInfo& info,
                                       const std::function<std::vector<KeyChange>(MDB_txn*)>& changes) {
  return with_map_growth(*store_, [&] { return write_changes(info, changes); });
}

WriteResult StoreWriter::write_changes(const SourceInfo& info_in,
                                       const std::function<std::vector<KeyChange>(MDB_txn*)>& compute) {
  const std::string what = store_->path() + ": source " + info_in.name;
  TxnGuard txn(store_->env(), 0, what);
  MDB_dbi categories, sources;
  mdb_check(mdb_dbi_open(txn.get(), schema::kDbCategories, MDB_CREATE, &categories), what);
  check_category_table(txn.get(), what, registry_);
  mdb_check(mdb_dbi_open(txn.get(), schema::kDbSources, MDB_CREATE, &sources), what);
  SourceInfo info = info_in, stored;
  if (!find_source(txn.get(), sources, what, info, &stored)) throw StoreError(what + ": no such source");
  WriteResult result;
  result.generation = get_u64(txn.get(), store_->meta_dbi(), schema::kMetaGeneration) + 1;
  PhaseTimer phase;
  const std::vector<KeyChange> changes = compute(txn.get());
  phase("changes");
  MDB_stat dstat;
  mdb_check(mdb_stat(txn.get(), store_->domains_dbi(), &dstat), what + ": stat");
  std::vector<std::string> touched;
  const bool delta = changes.size() <= name_index::delta_limit(dstat.ms_entries);
  std::vector<Contribution> contribs;
  EntryHeader header;
  std::string value;
  int64_t entries = static_cast<int64_t>(stored.domain_entries);
  for (const KeyChange& c : changes) {
    MDB_val k = to_val(c.key), v;
    contribs.clear();
    int rc = mdb_get(txn.get(), store_->domains_dbi(), &k, &v);
    if (rc == MDB_SUCCESS) {
      if (!decode_entry(from_val(v), header, contribs)) throw StoreError(what + ": corrupt entry " + c.key);
    } else if (rc != MDB_NOTFOUND) {
      mdb_check(rc, what + ": read " + c.key);
    }
    const bool existed = !contribs.empty();
    auto mine = std::find_if(contribs.begin(), contribs.end(), [&](const Contribution& x) { return x.source_id == info.id; });
    const bool had = mine != contribs.end() && (mine->flags & (kFlagExact | kFlagSubtree));
    const uint8_t flags = (c.flags & kFlagSubtree) ? kFlagSubtree : c.flags;  // as sort_merge keeps them
    const Contribution want{info.id, flags, flags ? c.cats : CategorySet{}};
    if (mine == contribs.end() ? want.flags == 0 : *mine == want) continue;  // nothing changes here
    set_contribution(contribs, want);
    entries += (flags != 0) - static_cast<int>(had);
    if (delta) touched.push_back(c.key);
    if (contribs.empty()) {
      mdb_check(mdb_del(txn.get(), store_->domains_dbi(), &k, nullptr), what + ": delete " + c.key);
      ++result.removed;
    } else {
      encode_entry(contribs, value);
      v = to_val(value);
      mdb_check(mdb_put(txn.get(), store_->domains_dbi(), &k, &v, 0), what + ": write " + c.key);
      ++(existed ? result.updated : result.inserted);
    }
  }
  stored.domain_entries = static_cast<uint64_t>(std::max<int64_t>(entries, 0));
  stored.version = info_in.version;
  stored.updated = static_cast<int64_t>(std::time(nullptr));
  std::string rec = encode_source(stored);
  MDB_val k = to_val(stored.name), v = to_val(rec);
  mdb_check(mdb_put(txn.get(), sources, &k, &v, 0), what + ": write source record");
  phase("entries");
  name_index::update(txn.get(), store_->domains_dbi(), store_->index_dbi(), result.generation, delta ? &touched : nullptr);
  phase("index");
  put_u64(txn.get(), store_->meta_dbi(), schema::kMetaSchemaVersion, schema::kSchemaVersion);
  publish_generation(txn.get(), store_->meta_dbi(), result.generation);
  pause_before_commit_for_test();
  txn.commit(what);
  phase("commit");
  return result;
}

WriteResult StoreWriter::remove_source(std::string_view name) {
  SourceInfo info;
  info.name = std::string(name);
  EntrySet empty;
  return with_map_growth(*store_, [&] { return write(info, empty, true, registry_, {}, {}); });
}

StoreWriter::CompactResult StoreWriter::compact() {
  const std::string what = store_->path() + ": compact";
  // The new base is written before the old one's pages are freed: the map may need to grow.
  return with_map_growth(*store_, [&] {
    TxnGuard txn(store_->env(), 0, what);
    CompactResult r;
    r.generation = get_u64(txn.get(), store_->meta_dbi(), schema::kMetaGeneration);
    const bool rekeyed = migrate_url_keys(txn.get(), store_->urls_dbi(), store_->meta_dbi(), what);
    r.relaid = relay_legacy_values(txn.get(), store_->domains_dbi(), what) +
               relay_legacy_values(txn.get(), store_->urls_dbi(), what);
    name_index::View delta;
    if (r.generation == 0 || !delta.load(txn.get(), store_->index_dbi(), name_index::kKindDelta, r.generation)) {
      // Re-keyed URL entries and values in the current layout need no new generation: every
      // lookup finds what it found, and readers see the commit in their next batch.
      if (rekeyed || r.relaid) txn.commit(what);
      return r;
    }
    r.delta_keys = delta.keys();
    ++r.generation;
    name_index::build(txn.get(), store_->domains_dbi(), store_->index_dbi(), r.generation);
    MDB_stat st;
    mdb_check(mdb_stat(txn.get(), store_->domains_dbi(), &st), what + ": stat");
    r.base_keys = st.ms_entries;
    publish_generation(txn.get(), store_->meta_dbi(), r.generation);
    txn.commit(what);
    return r;
  });
}

std::vector<SourceInfo> StoreWriter::sources() {
  std::vector<SourceInfo> out;
  TxnGuard txn(store_->env(), MDB_RDONLY, store_->path());
  MDB_dbi dbi;
  if (mdb_dbi_open(txn.get(), schema::kDbSources, 0, &dbi) != MDB_SUCCESS) return out;
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn.get(), dbi, &cur), store_->path() + ": sources");
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    SourceInfo s;
    if (decode_source(from_val(k), from_val(v), s)) out.push_back(std::move(s));
  }
  mdb_cursor_close(cur);
  return out;
}

}  // namespace sekisho::policy
