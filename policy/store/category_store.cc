// policy/store/category_store.cc — opening the environment and the per-thread lookup path.
//
// Hot-path rules: no allocation, no exception, no lock between begin_batch and end_batch. The
// key is built in the reader's buffer; candidate ancestor keys are prefixes of it.
#include "policy/store/category_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/file.h"
#include "policy/store/category_table.h"
#include "policy/store/entry_codec.h"
#include "policy/store/file_sharing.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"
#include "policy/store/url_form.h"

namespace sekisho::policy {
namespace {

void open_dbis(MDB_env* env, bool create, MDB_dbi& domains, MDB_dbi& urls, MDB_dbi& meta,
               MDB_dbi& index, bool& has_index, const std::string& path) {
  TxnGuard txn(env, create ? 0 : MDB_RDONLY, path);
  unsigned f = create ? MDB_CREATE : 0;
  auto open_one = [&](const char* name, MDB_dbi& dbi) {
    int rc = mdb_dbi_open(txn.get(), name, f, &dbi);
    if (rc == MDB_NOTFOUND)
      throw StoreError(path + ": category store has no '" + name +
                       "' DB (not initialised; run `sekisho db import` first)");
    mdb_check(rc, path + ": open DB " + name);
  };
  open_one(schema::kDbDomains, domains);
  open_one(schema::kDbUrls, urls);
  open_one(schema::kDbMeta, meta);
  // The lookup index is optional for readers: a store written by an older version has none.
  int irc = mdb_dbi_open(txn.get(), schema::kDbIndex, f, &index);
  if (irc != MDB_NOTFOUND) mdb_check(irc, path + ": open DB " + schema::kDbIndex);
  has_index = irc == MDB_SUCCESS;
  if (create) {
    MDB_dbi d;
    mdb_check(mdb_dbi_open(txn.get(), schema::kDbCategories, MDB_CREATE, &d), path + ": categories");
    mdb_check(mdb_dbi_open(txn.get(), schema::kDbSources, MDB_CREATE, &d), path + ": sources");
    MDB_val k = to_val(schema::kMetaSchemaVersion), v;
    if (mdb_get(txn.get(), meta, &k, &v) == MDB_NOTFOUND) {
      uint64_t version = schema::kSchemaVersion;
      MDB_val nv{sizeof version, &version};
      mdb_check(mdb_put(txn.get(), meta, &k, &nv, 0), path + ": write schema version");
      // A new store's URL keys are in the canonical form from the start.
      uint64_t form = schema::kUrlKeyForm;
      MDB_val fk = to_val(schema::kMetaUrlKeyForm), fv{sizeof form, &form};
      mdb_check(mdb_put(txn.get(), meta, &fk, &fv, 0), path + ": write URL key form");
    }
  }
  // DBI handles opened in a committed txn stay valid for the env's lifetime, in every thread.
  txn.commit(path + ": open DBs");
}

}  // namespace

std::unique_ptr<CategoryStore> CategoryStore::open(const std::string& path, Options options) {
  if (options.create_if_missing) {
    if (const std::string error = base::make_directories(path); !error.empty()) throw StoreError(error);
    if (options.read_only) {
      // Initialise with a short-lived writable handle, then reopen read-only below.
      open(path, Options{.read_only = false, .create_if_missing = true, .registry = options.registry});
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw StoreError(path + ": category store directory does not exist");

  std::unique_ptr<CategoryStore> store(new CategoryStore());
  store->path_ = path;
  mdb_check(mdb_env_create(&store->env_), path + ": mdb_env_create");
  mdb_check(mdb_env_set_maxdbs(store->env_, schema::kMaxDbs), path + ": set maxdbs");
  mdb_check(mdb_env_set_maxreaders(store->env_, schema::kMaxReaders), path + ": set maxreaders");
  // NOTLS: read txns are tied to CategoryReader objects, not threads (libuv may move work).
  // NORDAHEAD: lookups are random; read-ahead would only inflate RSS for a big store.
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.read_only) flags |= MDB_RDONLY;
  int rc = mdb_env_open(store->env_, path.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(store->env_);
    store->env_ = nullptr;
    throw StoreError(path + ": open category store", rc);
  }
  // Other users of the store's group (the other service, the admin's imports) must be able to
  // open what this process just created.
  share_store_files_with_group(path);
  if (!options.read_only) {
    MDB_envinfo info;
    mdb_env_info(store->env_, &info);
    if (info.me_mapsize < schema::kInitialMapSize)
      mdb_check(mdb_env_set_mapsize(store->env_, schema::kInitialMapSize), path + ": set map size");
  }
  // Reclaim slots of readers that died (kill -9) so they neither pin pages nor fill the table.
  int dead = 0;
  mdb_reader_check(store->env_, &dead);
  open_dbis(store->env_, !options.read_only && options.create_if_missing, store->domains_,
            store->urls_, store->meta_, store->index_, store->has_index_, path);
  // The registry must read stored ids the way the imports wrote them (category_table.h).
  TxnGuard txn(store->env_, MDB_RDONLY, path);
  check_category_table(txn.get(), path, options.registry ? *options.registry : CategoryRegistry::builtins());
  txn.commit(path + ": read categories");
  return store;
}

CategoryStore::~CategoryStore() {
  if (env_) mdb_env_close(env_);
}

uint64_t CategoryStore::current_generation() {
  CategoryReader reader(*this);
  if (!reader.begin_batch()) throw StoreError(path_ + ": cannot start a read transaction");
  uint64_t g = reader.generation();
  reader.end_batch();
  return g;
}

CategoryReader::CategoryReader(CategoryStore& store, LookupStrategy strategy)
    : store_(store), strategy_(strategy) {}

CategoryReader::~CategoryReader() {
  if (active_) end_batch();
  if (cursor_) mdb_cursor_close(cursor_);
  if (url_cursor_) mdb_cursor_close(url_cursor_);
  if (txn_) mdb_txn_abort(txn_);
}

bool CategoryReader::begin_batch() noexcept {
  if (active_) end_batch();
  generation_known_ = false;
  url_form_known_ = false;
  url_cursor_live_ = false;
  store_.map_mutex_.lock_shared();
  for (int attempt = 0; attempt < 3; ++attempt) {
    int rc = txn_ ? mdb_txn_renew(txn_) : mdb_txn_begin(store_.env_, nullptr, MDB_RDONLY, &txn_);
    if (rc == MDB_SUCCESS) {
      if (strategy_ == LookupStrategy::kSeekRange) {
        rc = cursor_ ? mdb_cursor_renew(txn_, cursor_) : mdb_cursor_open(txn_, store_.domains_, &cursor_);
        if (rc != MDB_SUCCESS) {
          mdb_txn_reset(txn_);
          break;
        }
      }
      active_ = true;
      batch_snapshot_ = static_cast<uint64_t>(mdb_txn_id(txn_));
      if (strategy_ == LookupStrategy::kPerLabel) refresh_index();
      return true;
    }
    if (rc == MDB_MAP_RESIZED) {
      // A writer grew the map beyond ours. Adopt it once no reader of this process is inside
      // a batch (mdb_env_set_mapsize must not run under an active txn, as in Knot cdb_lmdb.c).
      store_.map_mutex_.unlock_shared();
      {
        std::unique_lock lock(store_.map_mutex_);
        mdb_env_set_mapsize(store_.env_, 0);
        store_.map_epoch_.fetch_add(1, std::memory_order_release);
      }
      store_.map_mutex_.lock_shared();
      continue;
    }
    if (rc == MDB_READERS_FULL) {
      // Slots may be held by dead processes; reclaim and retry.
      int dead = 0;
      mdb_reader_check(store_.env_, &dead);
      if (txn_ == nullptr || dead > 0) continue;
    }
    break;
  }
  store_.map_mutex_.unlock_shared();
  ++failed_batches_;
  return false;
}

void CategoryReader::end_batch() noexcept {
  if (!active_) return;
  mdb_txn_reset(txn_);
  active_ = false;
  store_.map_mutex_.unlock_shared();
}

uint64_t CategoryReader::generation() noexcept {
  if (!active_) return 0;
  if (!generation_known_) {
    MDB_val k{std::strlen(schema::kMetaGeneration), const_cast<char*>(schema::kMetaGeneration)}, v;
    generation_ = 0;
    if (mdb_get(txn_, store_.meta_, &k, &v) == MDB_SUCCESS && v.mv_size == 8)
      std::memcpy(&generation_, v.mv_data, 8);
    generation_known_ = true;
  }
  return generation_;
}

// Called in begin_batch: reloads the index chunk pointers when the snapshot (or the map) changed.
// Same txn id = same committed pages, so the pointers of an earlier batch are still valid.
void CategoryReader::refresh_index() noexcept {
  const uint64_t id = static_cast<uint64_t>(mdb_txn_id(txn_));
  const uint64_t epoch = store_.map_epoch_.load(std::memory_order_acquire);
  if (index_loaded_ && id == index_txn_id_ && epoch == index_epoch_) return;
  index_loaded_ = true;
  index_txn_id_ = id;
  index_epoch_ = epoch;
  index_.clear();
  delta_.clear();
  if (!store_.has_index_) return;
  const uint64_t g = generation();
  // The snapshot's generation has a base (after a rebuild) or a delta naming its base.
  if (delta_.load(txn_, store_.index_, name_index::kKindDelta, g)) {
    if (!index_.load(txn_, store_.index_, name_index::kKindBase, delta_.base_generation()) ||
        index_.seed() != delta_.seed()) {
      index_.clear();
      delta_.clear();
      return;
    }
  } else if (!index_.load(txn_, store_.index_, name_index::kKindBase, g)) {
    return;
  }
  index_.advise_huge_pages();
  delta_.advise_huge_pages();
  index_labels_ = index_.label_counts() | (delta_.valid() ? delta_.label_counts() : 0);
  index_max_len_ = std::max(index_.max_key_len(), delta_.valid() ? delta_.max_key_len() : 0u);
}

uint64_t CategoryReader::snapshot_id() const noexcept {
  return active_ ? static_cast<uint64_t>(mdb_txn_id(txn_)) : 0;
}

bool CategoryReader::get(MDB_dbi dbi, size_t len, const char* key, MDB_val& out) noexcept {
  MDB_val k{len, const_cast<char*>(key)};
  return mdb_get(txn_, dbi, &k, &out) == MDB_SUCCESS;
}

Match CategoryReader::lookup_domain(std::string_view name) noexcept {
  if (!active_) return {};
  size_t len = make_name_key(name, key_);
  return len ? lookup_key(key_, len) : Match{};
}

Match CategoryReader::lookup_wire(std::span<const uint8_t> wire_name) noexcept {
  if (!active_) return {};
  Match m;
  if (memo_ && memo_->find(wire_name, batch_snapshot_, m)) return m;
  size_t len = make_wire_key(wire_name, key_);
  if (len) m = lookup_key(key_, len);
  if (memo_) memo_->remember(wire_name, batch_snapshot_, m);
  return m;
}

void CategoryReader::enable_memo(size_t entries) { memo_ = std::make_unique<NameMemo>(entries); }

void CategoryReader::lookup_domains(std::span<const std::string_view> names, std::span<Match> out) noexcept {
  lookup_many(std::min(names.size(), out.size()),
              [&](size_t i, char* buf) { return make_name_key(names[i], buf); }, out.data());
}

void CategoryReader::lookup_wires(std::span<const std::span<const uint8_t>> names, std::span<Match> out) noexcept {
  lookup_many(std::min(names.size(), out.size()),
              [&](size_t i, char* buf) { return make_wire_key(names[i], buf); }, out.data());
}

Match CategoryReader::lookup_key(const char* key, size_t len) noexcept {
  if (strategy_ == LookupStrategy::kPerLabel && index_.valid()) return lookup_indexed(key, len);
  return strategy_ == LookupStrategy::kSeekRange ? lookup_seek(key, len) : lookup_per_label(key, len);
}

namespace {

// Applies the entry found at a candidate key. Returns true when the search is over.
inline bool apply_header(const EntryHeader& h, size_t cand, size_t len, const char* key, Match& m) {
  if (cand == len) {
    m.has_url_entries = (h.flags & kFlagUrl) != 0;
    if (h.all.empty()) return false;  // URL-only marker: keep looking at ancestors
    m.categories = h.all;
    m.exact_match = true;
  } else {
    if (h.subtree.empty()) return false;  // exact-only ancestor does not cover subdomains
    m.categories = h.subtree;
  }
  m.found = true;
  m.entry_flags = h.flags;
  m.matched_key = std::string_view(key, cand);
  return true;
}

inline bool apply_entry(const MDB_val& v, size_t cand, size_t len, const char* key, Match& m) {
  EntryHeader h;
  if (!decode_header(v.mv_data, v.mv_size, h)) return false;
  return apply_header(h, cand, len, key, m);
}

// Next shorter label-boundary prefix of key[0, cand), or 0.
inline size_t shorter(const char* key, size_t cand) {
  while (cand > 0) {
    --cand;
    if (key[cand] == '.') return cand;
  }
  return 0;
}

}  // namespace

Match CategoryReader::lookup_per_label(const char* key, size_t len) noexcept {
  Match m;
  const bool ipv4 = key_is_ipv4(std::string_view(key, len));
  MDB_val v;
  for (size_t cand = len; cand > 0; cand = shorter(key, cand)) {
    if (get(store_.domains_, cand, key, v) && apply_entry(v, cand, len, key, m)) return m;
    if (ipv4) break;  // literals are exact entries only; "4.3" is not an ancestor
  }
  return m;
}

// Same candidates and order as lookup_per_label, answered by the index, in three stages so that
// a batch can run them for different names at once. probe_hash: one forward pass over the key
// finds the label boundaries and hashes every candidate prefix incrementally (key_hash folds the
// length in last), and starts loading each candidate's slot line (and delta filter bytes).
// Candidates longer than any key, or with a label count no key has (typically the TLD), are not
// probed. The key buffer must hold kMaxKeyLen bytes (whole words are read and masked).
void CategoryReader::probe_hash(Probe& p) const noexcept {
  const char* key = p.key;
  const size_t len = p.len;
  const size_t max_len = index_max_len_;
  const uint64_t present = index_labels_;
  const bool delta = delta_.valid();
  unsigned n = 0;
  uint64_t h = index_.seed();
  size_t done = 0;  // bytes folded into h as whole words
  size_t labels = 0;
  auto add = [&](size_t c) {
    ++labels;
    if (c > max_len || !((present >> (labels > 64 ? 63 : labels - 1)) & 1)) return;
    for (; done + 8 <= c; done += 8) h = name_index::hash_mix(h, swar::load8(key + done));
    uint64_t hc = h;
    if (c > done) hc = name_index::hash_mix(hc, swar::load8(key + done) & ((uint64_t{1} << (8 * (c - done))) - 1));
    const uint64_t hv = name_index::hash_length(hc, c);
    p.cand[n] = static_cast<uint8_t>(c);
    p.hash[n] = hv;
    __builtin_prefetch(index_.slot_line(hv));
    if (delta) delta_.prefetch_filter(hv);  // same seed: same hash
    ++n;
  };
  if (!key_is_ipv4(std::string_view(key, len))) {  // literals are exact entries only; "4.3" is not an ancestor
    for (size_t i = 0; i < len; i += 8) {
      uint64_t dots = swar::byte_eq(swar::load8(key + i), '.');
      if (len - i < 8) dots &= (uint64_t{1} << (8 * (len - i))) - 1;
      for (; dots; dots &= dots - 1) add(i + static_cast<size_t>(__builtin_ctzll(dots)) / 8);
    }
  } else {  // only the whole key is a candidate; its label count still filters
    for (size_t i = 0; i < len; ++i) labels += key[i] == '.';
  }
  add(len);
  p.n = n;
}

// Stage two: the delta's filter (cache-resident) spares its pages almost always; where it says
// "maybe", the delta's slot line starts loading.
void CategoryReader::probe_filter(Probe& p) const noexcept {
  for (unsigned i = 0; i < p.n; ++i) {
    const uint64_t hv = p.hash[i];
    p.in_delta[i] = delta_.may_contain(hv);
    if (p.in_delta[i]) __builtin_prefetch(delta_.slot_line(hv));
  }
}

// Stage three: most specific candidate first; the delta holds the current state of every key
// changed since the base (deleted ones as tombstones).
Match CategoryReader::probe_resolve(const Probe& p) const noexcept {
  Match m;
  const bool delta = delta_.valid();  // in_delta is set by probe_filter, which runs only then
  for (unsigned i = p.n; i-- > 0;) {
    const unsigned char* e = nullptr;
    const name_index::View* from = &delta_;
    if (delta && p.in_delta[i]) {
      e = delta_.find(p.cand[i], p.hash[i]);
      if (e && delta_.flags(e) == name_index::kTombstone) continue;  // deleted since the base
    }
    if (!e) e = index_.find(p.cand[i], p.hash[i]), from = &index_;
    if (!e) continue;
    EntryHeader eh;
    from->header(e, eh);
    if (apply_header(eh, p.cand[i], p.len, p.key, m)) return m;
  }
  return m;
}

Match CategoryReader::lookup_indexed(const char* key, size_t len) noexcept {
  Probe& p = probes_[0];
  p.key = key;
  p.len = len;
  probe_hash(p);
  if (delta_.valid()) probe_filter(p);
  return probe_resolve(p);
}

// A software pipeline over the batch: name i is hashed (its lines start loading) while name
// i - kStageDistance checks the delta filter (and starts loading delta slot lines), and name
// i - 2 * kStageDistance, whose lines have arrived, is resolved. Out of the index (no index,
// another strategy) the names are looked up one by one.
template <class MakeKey>
void CategoryReader::lookup_many(size_t n, MakeKey make_key, Match* out) noexcept {
  if (!active_) {
    for (size_t i = 0; i < n; ++i) out[i] = Match{};
    return;
  }
  static_assert(kInFlight > 2 * kStageDistance && (kInFlight & (kInFlight - 1)) == 0);
  static_assert(kMaxBatch >= kInFlight);
  const bool indexed = strategy_ == LookupStrategy::kPerLabel && index_.valid();
  constexpr size_t d = kStageDistance;
  for (size_t i = 0; i < n + 2 * d; ++i) {
    if (i < n) {
      // The key of name i takes the buffer of name i - kMaxBatch: that one loses matched_key.
      if (i >= kMaxBatch) out[i - kMaxBatch].matched_key = {};
      char* buf = batch_keys_[i % kMaxBatch];
      const size_t len = make_key(i, buf);
      Probe& p = probes_[i % kInFlight];
      p.key = buf;
      p.len = len;
      p.n = 0;
      if (!len) {
        out[i] = Match{};
      } else if (!indexed) {
        out[i] = lookup_key(buf, len);
      } else {
        probe_hash(p);
      }
    }
    if (!indexed) continue;
    if (i >= d && i - d < n && delta_.valid()) probe_filter(probes_[(i - d) % kInFlight]);
    if (i >= 2 * d && i - 2 * d < n) {
      const Probe& p = probes_[(i - 2 * d) % kInFlight];
      if (p.len) out[i - 2 * d] = probe_resolve(p);
    }
  }
}

Match CategoryReader::lookup_seek(const char* key, size_t len) noexcept {
  Match m;
  const bool ipv4 = key_is_ipv4(std::string_view(key, len));
  MDB_val k{len, const_cast<char*>(key)}, v;
  int rc = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
  if (rc == MDB_SUCCESS && k.mv_size == len && std::memcmp(k.mv_data, key, len) == 0) {
    if (apply_entry(v, len, len, key, m) || ipv4) return m;
  } else if (ipv4) {
    return m;
  }
  // The predecessor P of the key bounds the candidates: every ancestor A satisfies A <= P < key
  // and is therefore a prefix of P, so only label boundaries within lcp(P, key) can match.
  rc = mdb_cursor_get(cursor_, &k, &v, rc == MDB_SUCCESS ? MDB_PREV : MDB_LAST);
  if (rc != MDB_SUCCESS) return m;
  const char* p = static_cast<const char*>(k.mv_data);
  size_t lcp = 0, lim = k.mv_size < len ? k.mv_size : len;
  while (lcp < lim && p[lcp] == key[lcp]) ++lcp;
  size_t cand = shorter(key, len);
  while (cand > lcp) cand = shorter(key, cand);
  // If P itself is that ancestor we already hold its value.
  if (cand > 0 && k.mv_size == cand && lcp >= cand) {
    if (apply_entry(v, cand, len, key, m)) return m;
    cand = shorter(key, cand);
  }
  for (; cand > 0; cand = shorter(key, cand))
    if (get(store_.domains_, cand, key, v) && apply_entry(v, cand, len, key, m)) return m;
  return m;
}

UrlMatch CategoryReader::lookup_url(std::string_view host, std::string_view target) noexcept {
  const url::Parts t = url::split_target(target);
  return lookup_url(host, t.path, t.query);
}

UrlMatch CategoryReader::lookup_url(std::string_view host, std::string_view path,
                                    std::string_view query) noexcept {
  UrlMatch u;
  if (!active_) return u;
  const size_t hlen = make_name_key(host, key_);
  if (hlen == 0) return u;
  u.domain = lookup_key(key_, hlen);
  if (!u.domain.has_url_entries) return u;  // the marker saves the URL reads for most hosts
  const url::Parts t{{}, path, query, !query.empty()};
  std::memcpy(url_key_, key_, hlen);
  url_key_[hlen] = '/';
  // A path too long for a key is cut at a segment boundary: no entry is longer than a key, and
  // the cut keeps every prefix an entry can be.
  const url::PathForm p = url::canonical_path(t.path, url_key_ + hlen + 1, kMaxUrlKeyLen - hlen - 1);
  const size_t full = hlen + 1 + p.len;
  if (t.has_query && !p.truncated && match_url_query(full, t.query, u)) return u;
  if (match_url_prefixes(full, hlen, u)) return u;
  if (url_key_form() >= schema::kUrlKeyForm) return u;
  // A store written before the canonical form, not yet re-keyed by a write: its keys hold the
  // path as listed, which the old lookup found by the path as sent.
  std::string_view legacy = t.path;
  while (!legacy.empty() && legacy.front() == '/') legacy.remove_prefix(1);
  while (!legacy.empty() && legacy.back() == '/') legacy.remove_suffix(1);
  if (hlen + 1 + legacy.size() > kMaxUrlKeyLen) legacy = legacy.substr(0, kMaxUrlKeyLen - hlen - 1);
  std::memcpy(url_key_ + hlen + 1, legacy.data(), legacy.size());
  match_url_prefixes(hlen + 1 + legacy.size(), hlen, u);
  return u;
}

bool CategoryReader::match_url_prefixes(size_t full, size_t hlen, UrlMatch& u) noexcept {
  MDB_val v;
  size_t cand = full;
  while (true) {
    EntryHeader h;
    if (get(store_.urls_, cand, url_key_, v) && decode_header(v.mv_data, v.mv_size, h)) {
      u.found = true;
      u.categories = h.all;
      u.matched_key = std::string_view(url_key_, cand);
      return true;
    }
    if (cand == hlen + 1) return false;
    // Next shorter path prefix ending before a '/' (or the bare host "hostkey/").
    size_t c = cand - 1;
    while (c > hlen + 1 && url_key_[c] != '/') --c;
    cand = c > hlen + 1 ? c : hlen + 1;
  }
}

// Entries with a query store their parameters sorted, so each one's first parameter is one of
// the request's: one exact read and one range read per request parameter find every candidate.
bool CategoryReader::match_url_query(size_t path_end, std::string_view query, UrlMatch& u) noexcept {
  if (path_end + 2 > kMaxUrlKeyLen || !url_cursor_ready()) return false;
  url_key_[path_end] = '?';
  const size_t base = path_end + 1;
  MDB_val k{base, url_key_}, v;
  // Most paths have no entry with a query: one seek says so.
  if (mdb_cursor_get(url_cursor_, &k, &v, MDB_SET_RANGE) != MDB_SUCCESS || k.mv_size < base ||
      std::memcmp(k.mv_data, url_key_, base) != 0)
    return false;
  // Whether the request holds parameter `want` (canonical) among its own.
  auto request_has = [&](std::string_view want) {
    char buf[kMaxUrlKeyLen];
    bool found = false;
    url::for_each_param(query, [&](std::string_view raw) {
      if (found) return;
      const size_t n = url::canonical_param(raw, buf, sizeof buf);
      found = n == want.size() && std::memcmp(buf, want.data(), n) == 0;
    });
    return found;
  };
  bool found = false;
  url::for_each_param(query, [&](std::string_view raw) {
    if (found) return;
    const size_t n = url::canonical_param(raw, url_key_ + base, kMaxUrlKeyLen - base - 1);
    if (n == 0) return;
    const size_t qlen = base + n;
    MDB_val key{qlen, url_key_}, val;
    EntryHeader h;
    const char* hit = nullptr;
    size_t hit_len = 0;
    if (mdb_cursor_get(url_cursor_, &key, &val, MDB_SET_KEY) == MDB_SUCCESS &&
        decode_header(val.mv_data, val.mv_size, h)) {
      hit = url_key_, hit_len = qlen;
    } else {
      url_key_[qlen] = '&';
      key = MDB_val{qlen + 1, url_key_};
      for (int rc = mdb_cursor_get(url_cursor_, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
           rc = mdb_cursor_get(url_cursor_, &key, &val, MDB_NEXT)) {
        const std::string_view stored(static_cast<const char*>(key.mv_data), key.mv_size);
        if (stored.size() <= qlen + 1 || std::memcmp(stored.data(), url_key_, qlen + 1) != 0) break;
        bool all = true;
        url::for_each_param(stored.substr(qlen + 1), [&](std::string_view e) { all = all && request_has(e); });
        if (all && decode_header(val.mv_data, val.mv_size, h)) {
          hit = stored.data(), hit_len = stored.size();
          break;
        }
      }
    }
    if (!hit) return;
    // The key is copied: matched_key must outlive the cursor's next move.
    std::memmove(url_key_, hit, hit_len);
    found = true;
    u.found = true;
    u.categories = h.all;
    u.matched_key = std::string_view(url_key_, hit_len);
  });
  return found;
}

bool CategoryReader::url_cursor_ready() noexcept {
  if (url_cursor_live_) return true;
  const int rc = url_cursor_ ? mdb_cursor_renew(txn_, url_cursor_) : mdb_cursor_open(txn_, store_.urls_, &url_cursor_);
  url_cursor_live_ = rc == MDB_SUCCESS;
  return url_cursor_live_;
}

uint64_t CategoryReader::url_key_form() noexcept {
  if (!url_form_known_) {
    MDB_val k{std::strlen(schema::kMetaUrlKeyForm), const_cast<char*>(schema::kMetaUrlKeyForm)}, v;
    url_form_ = 1;
    if (mdb_get(txn_, store_.meta_, &k, &v) == MDB_SUCCESS && v.mv_size == 8) std::memcpy(&url_form_, v.mv_data, 8);
    url_form_known_ = true;
  }
  return url_form_;
}

}  // namespace sekisho::policy
