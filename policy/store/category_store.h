// policy/store/category_store.h — read side of the category store.
//
// CategoryStore opens the LMDB environment (read-only for sekishod) and the named DBs once.
// CategoryReader is a per-thread handle: it owns one long-lived read transaction that is
// renewed at begin_batch() and reset at end_batch(), so a finished import becomes visible at the
// next batch and a reader never pins old pages for longer than one batch.
//
// Concurrency contract: CategoryStore is shared by all threads and outlives every reader. A
// CategoryReader is used by exactly one thread at a time (MDB_NOTLS lets it migrate between
// threads between batches). Lookups between begin_batch() and end_batch() allocate nothing,
// throw nothing, and take no lock; begin/end take a shared lock so that the rare adoption of a
// grown map (MDB_MAP_RESIZED) can wait until no reader is inside a batch.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>

#include "policy/store/categories.h"
#include "policy/store/key_format.h"
#include "policy/store/name_index.h"
#include "policy/store/name_memo.h"

namespace sekisho::policy {

// Result of a domain lookup. matched_key points into the reader's key buffer and is valid until
// the next lookup on the same reader.
struct Match {
  bool found = false;             // some entry applies to the name
  CategorySet categories;         // categories of the entry that applies
  bool exact_match = false;       // the entry's key is the name itself (else an ancestor's subtree)
  bool has_url_entries = false;   // the name itself has URL entries (deep URL check possible)
  uint8_t entry_flags = 0;        // kFlagExact / kFlagSubtree / kFlagUrl of the matched entry
  std::string_view matched_key;   // reversed key of the entry, e.g. "com.example"
  bool is_allowlisted() const { return categories.contains(allowlist_category_id()); }
};

struct UrlMatch {
  bool found = false;             // a URL (host + path prefix) entry applies
  CategorySet categories;         // of the most specific URL entry
  std::string_view matched_key;   // "com.example/videos/adult"
  Match domain;                   // the host's domain match (same snapshot)
};

// Which search the reader uses for the suffix match; see README "Lookup".
enum class LookupStrategy : uint8_t {
  kPerLabel,       // name and ancestors, most specific first, through the snapshot's lookup index
                   // (name_index.h); one mdb_get per label boundary if the snapshot has none
  kSeekRange,      // one MDB_SET_RANGE + MDB_PREV bounds the candidates, then few mdb_get
  kPerLabelBtree,  // kPerLabel without the index (measurement, reference in tests)
};

class CategoryStore {
 public:
  struct Options {
    bool read_only = true;           // sekishod: MDB_RDONLY
    bool create_if_missing = false;  // create an empty store (dirs + DBs) first
    // What the store's ids must mean (category_table.h); null: the built-ins alone.
    const CategoryRegistry* registry = nullptr;
  };
  // Throws StoreError with the path and reason. Open time does not depend on the store size
  // (mmap + reading the meta pages only).
  static std::unique_ptr<CategoryStore> open(const std::string& path, Options options);
  static std::unique_ptr<CategoryStore> open(const std::string& path) { return open(path, Options{}); }
  ~CategoryStore();
  CategoryStore(const CategoryStore&) = delete;
  CategoryStore& operator=(const CategoryStore&) = delete;

  const std::string& path() const { return path_; }
  MDB_env* env() const { return env_; }
  MDB_dbi domains_dbi() const { return domains_; }
  MDB_dbi urls_dbi() const { return urls_; }
  MDB_dbi meta_dbi() const { return meta_; }
  // The lookup index DB; false if the store predates it (opened read-only, never imported since).
  bool has_index_db() const { return has_index_; }
  MDB_dbi index_dbi() const { return index_; }
  // The writer of this process moved the map (mdb_env_set_mapsize): readers reload index pointers.
  void note_map_moved() { map_epoch_.fetch_add(1, std::memory_order_release); }
  // Generation of the newest committed import (opens a short read txn; control plane).
  uint64_t current_generation();

 private:
  friend class CategoryReader;
  CategoryStore() = default;
  std::string path_;
  MDB_env* env_ = nullptr;
  MDB_dbi domains_ = 0, urls_ = 0, meta_ = 0, index_ = 0;
  bool has_index_ = false;
  std::shared_mutex map_mutex_;  // shared: inside a batch; exclusive: adopting a grown map
  std::atomic<uint64_t> map_epoch_{0};  // bumped when the map moves: readers reload index pointers
};

class CategoryReader {
 public:
  explicit CategoryReader(CategoryStore& store, LookupStrategy strategy = LookupStrategy::kPerLabel);
  ~CategoryReader();
  CategoryReader(const CategoryReader&) = delete;
  CategoryReader& operator=(const CategoryReader&) = delete;

  // Start of a receive batch: renews the read txn (sees the newest import). Returns false if
  // no snapshot could be taken (reader table full, I/O error); lookups then return no match
  // and the caller should count it. Handles MDB_MAP_RESIZED and MDB_READERS_FULL internally.
  bool begin_batch() noexcept;
  // End of the batch: resets the txn so the writer can reuse old pages.
  void end_batch() noexcept;
  bool in_batch() const { return active_; }

  // Lowercase or not (ASCII is folded here), trailing dot optional, A-labels expected.
  Match lookup_domain(std::string_view name) noexcept;
  // Uncompressed wire-format qname (as decoded from the question section). With a memo
  // (enable_memo), a name looked up before in the same snapshot is answered from it; such a
  // match has no matched_key.
  Match lookup_wire(std::span<const uint8_t> wire_name) noexcept;
  // Gives lookup_wire a memo of `entries` recent names (a serving loop's reader; see
  // name_memo.h). Call outside a batch.
  void enable_memo(size_t entries);
  const NameMemo* memo() const { return memo_.get(); }
  // host as in lookup_domain; target a request target as a client sent it ("/path?query#frag",
  // the leading '/' optional), in any spelling: it is put in the canonical form of the store's
  // URL keys (url_form.h) in the reader's buffer, without allocating. An entry with a query
  // whose path is the whole path and whose parameters the query all holds wins; then the
  // longest entry without a query that is the path or a prefix of it at a '/' boundary. The
  // domain match of host comes with it.
  UrlMatch lookup_url(std::string_view host, std::string_view target) noexcept;
  // The same with the target's path and query apart, as an HTTP request holds them.
  UrlMatch lookup_url(std::string_view host, std::string_view path, std::string_view query) noexcept;

  // Many names at once (a receive batch): out[i] is what lookup_domain(names[i]) /
  // lookup_wire(names[i]) would return, but the index probes of neighbouring names are
  // interleaved, so their cache misses overlap instead of following one another (README
  // "Lookup"). out must hold names.size() matches. out[i].matched_key points into the reader
  // and is valid until the next lookup; in a batch of more than kMaxBatch names only the last
  // kMaxBatch keep it (the earlier ones get an empty matched_key, never a stale one).
  static constexpr size_t kMaxBatch = 64;
  void lookup_domains(std::span<const std::string_view> names, std::span<Match> out) noexcept;
  void lookup_wires(std::span<const std::span<const uint8_t>> names, std::span<Match> out) noexcept;

  // Generation of the snapshot of the current batch (0 for an empty store or outside a batch).
  uint64_t generation() noexcept;
  // Cheap change detector: LMDB txn id of the current snapshot (changes with every commit).
  uint64_t snapshot_id() const noexcept;
  uint64_t failed_batches() const { return failed_batches_; }
  // Whether the current snapshot has a lookup index (otherwise B-tree descents answer).
  bool has_lookup_index() const noexcept { return index_.valid(); }

 private:
  // One name on its way through the index: its candidates (the key's label-boundary prefixes
  // that some key could match), their hashes, and whether the delta may hold them.
  static constexpr size_t kMaxCandidates = kMaxKeyLen / 2 + 1;
  struct Probe {
    const char* key;
    size_t len;
    unsigned n;
    uint8_t cand[kMaxCandidates];
    bool in_delta[kMaxCandidates];
    uint64_t hash[kMaxCandidates];
  };
  // The stages of an indexed lookup; a batch runs them kStageDistance names apart.
  void probe_hash(Probe& p) const noexcept;                    // hashes; prefetches slot and filter lines
  void probe_filter(Probe& p) const noexcept;                  // delta filter; prefetches delta slots
  Match probe_resolve(const Probe& p) const noexcept;          // most specific applicable entry
  template <class MakeKey>
  void lookup_many(size_t n, MakeKey make_key, Match* out) noexcept;

  Match lookup_key(const char* key, size_t len) noexcept;
  Match lookup_per_label(const char* key, size_t len) noexcept;
  Match lookup_seek(const char* key, size_t len) noexcept;
  Match lookup_indexed(const char* key, size_t len) noexcept;
  void refresh_index() noexcept;
  bool get(MDB_dbi dbi, size_t len, const char* key, MDB_val& out) noexcept;
  // URL lookups over url_key_[0, full) (hostkey '/' path; hlen: the host key's length).
  bool match_url_prefixes(size_t full, size_t hlen, UrlMatch& u) noexcept;
  bool match_url_query(size_t path_end, std::string_view query, UrlMatch& u) noexcept;
  bool url_cursor_ready() noexcept;
  uint64_t url_key_form() noexcept;

  CategoryStore& store_;
  LookupStrategy strategy_;
  MDB_txn* txn_ = nullptr;
  MDB_cursor* cursor_ = nullptr;
  bool active_ = false;
  bool generation_known_ = false;
  uint64_t generation_ = 0;
  uint64_t failed_batches_ = 0;
  uint64_t batch_snapshot_ = 0;  // LMDB txn id of the current batch's snapshot
  std::unique_ptr<NameMemo> memo_;
  uint64_t index_txn_id_ = 0;   // snapshot the index view was loaded for
  uint64_t index_epoch_ = 0;
  bool index_loaded_ = false;
  char key_[kMaxKeyLen] = {};  // zeroed: the index hash may read (and mask) bytes past the key
  char url_key_[kMaxUrlKeyLen + 1];
  MDB_cursor* url_cursor_ = nullptr;  // for entries with a query (range reads); renewed per batch
  bool url_cursor_live_ = false;
  bool url_form_known_ = false;
  uint64_t url_form_ = 0;  // the snapshot's schema::kMetaUrlKeyForm
  // Batches: keys (kept for matched_key) and the probes in flight (a ring).
  static constexpr unsigned kStageDistance = 4;  // names between two stages of the pipeline
  static constexpr unsigned kInFlight = 16;      // > 2 * kStageDistance, a power of two
  char batch_keys_[kMaxBatch][kMaxKeyLen] = {};
  Probe probes_[kInFlight];
  name_index::View index_;   // base of the snapshot's index
  name_index::View delta_;   // keys changed since that base (may be invalid: none)
  uint64_t index_labels_ = 0;   // label counts present in base or delta
  uint32_t index_max_len_ = 0;
};

}  // namespace sekisho::policy
