// policy/store/store_writer.h — write side of the category store.
//
// One write transaction per import: replace_source() swaps one source's contributions for a new
// set (names dropped from the feed disappear, other sources' contributions stay, multi-source
// entries keep the union), updates the sources record and bumps the generation, then commits.
// A crash or kill -9 before the commit leaves the previous generation intact (LMDB's copy-on-
// write meta page switch). Only one writer runs at a time (LMDB's writer mutex serialises
// concurrent CLI imports). Control plane: errors are StoreError exceptions with context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/store/categories.h"

typedef struct MDB_txn MDB_txn;  // lmdb.h's

namespace sekisho::policy {

class CategoryStore;

// Normalised entries of one source, ready to write. Keys live in one arena so that 10M entries
// cost two allocations, not 10M.
class EntrySet {
 public:
  struct Item {
    uint64_t prefix;   // key bytes [0,8), big endian, zero-padded: most comparisons stop here
    uint64_t prefix2;  // key bytes [8,16) ("com." alone takes half of the first word)
    uint32_t cats;     // index into the set's category sets (cats()): 256-bit sets per item would
                       // make a 10M-entry import's items 75 % larger
    uint32_t offset;
    uint16_t size;
    uint8_t flags;  // kFlagSubtree | kFlagExact | kFlagUrl
  };
  // key: reversed-label key (key_format.h). flags: kFlagSubtree or kFlagExact.
  void add_domain(std::string_view key, uint8_t flags, CategorySet cats);
  // host_key + path (no leading '/'): adds the URL entry and the host's kFlagUrl marker.
  void add_url(std::string_view host_key, std::string_view path, CategorySet cats);
  // Sorts by key (LMDB order), merges duplicates (union of flags and categories) and lays the
  // keys out in that order.
  void finalize();
  std::string_view key(const Item& i) const { return {arena_.data() + i.offset, i.size}; }
  const CategorySet& cats(const Item& i) const { return sets_[i.cats]; }
  const std::vector<Item>& domains() const { return domains_; }
  const std::vector<Item>& urls() const { return urls_; }
  // Entries as a user counts them: domain entries (without URL-only host markers) + URL entries.
  uint64_t domain_entries() const;
  void reserve(size_t items, size_t bytes);
  // Moves other's entries into this set (not finalized; parallel parsing joins its parts).
  void append(EntrySet&& other);

 private:
  // The writer and the index builder read keys in sorted order; in parse (file) order that was
  // two passes of cache misses all over the arena (their prefetches stalled on memory), and one
  // pass here makes both sequential.
  void lay_out_in_order();
  void sort_merge(std::vector<Item>& items);
  // The index of `s` in sets_, added if new. An import's items share a handful of sets, and
  // consecutive ones almost always the same.
  uint32_t intern(const CategorySet& s);
  std::string arena_;
  std::vector<Item> domains_, urls_;
  std::vector<CategorySet> sets_;
  std::shared_ptr<void> set_ids_;  // CategorySet → index (store_writer.cc)
  uint32_t last_set_ = UINT32_MAX;
};

struct SourceInfo {
  std::string name;
  uint16_t id = 0;
  std::string format;
  std::string origin;           // file or directory it came from
  CategorySet default_categories;
  uint64_t domain_entries = 0;
  uint64_t url_entries = 0;
  int64_t updated = 0;          // unix time of the import
  // What version of its origin the entries are: a feed's zone serial ("serial 2026120701").
  // Written with the entries in the same transaction, so it never names data not stored.
  std::string version;
};

// One key's new contribution from a source (apply_changes): flags 0 removes it.
struct KeyChange {
  std::string key;  // reversed-label key (key_format.h)
  uint8_t flags = 0;
  CategorySet cats;
};

// Work a caller does in the import's own write transaction (a feed's transfer state), so that
// it commits, or is lost, with the entries.
using InTxn = std::function<void(MDB_txn*)>;

struct WriteResult {
  uint64_t generation = 0;
  uint64_t inserted = 0;  // keys new to the store
  uint64_t updated = 0;   // existing keys whose contribution from this source was set/rewritten
  uint64_t removed = 0;   // keys that lost this source's contribution (deleted if it was the last)
  // In entries as a user counts them (domain entries and URL entries, not URL-host markers):
  uint64_t previous_entries = 0;  // the source's before this write (0 for a new source)
  uint64_t removed_entries = 0;   // of those, the ones this write takes away
};

class StoreWriter {
 public:
  // Opens (and creates if needed) the store at path for writing. `registry` says what category
  // ids mean: checked against the store's at open (category_table.h). It must outlive the writer.
  explicit StoreWriter(const std::string& path, const CategoryRegistry& registry = CategoryRegistry::builtins());
  ~StoreWriter();

  // Replaces all of info.name's entries by `entries` (finalized) in one transaction. `registry`
  // (null: the writer's) is what the entries' category ids mean, the one they were imported
  // with (ImportOptions::registry): checked against the store's again (another process may have
  // imported since the open) and written into it.
  // before_commit, when given, sees the result once the entries are applied and before the
  // index is built and the transaction commits: throwing aborts it and nothing is written (how
  // an update guard, policy/import/update_guard.h, judges what the update really removes).
  // `also` runs in the same transaction before the commit (a feed's own state).
  WriteResult replace_source(const SourceInfo& info, const EntrySet& entries, const CategoryRegistry* registry = nullptr,
                             const std::function<void(const WriteResult&)>& before_commit = {},
                             const InTxn& also = {});
  // An incremental update of an existing source, in one transaction: `changes(txn)` (run in it,
  // so it may read and write a caller's own DBs there) says which keys' contributions change;
  // only those keys are touched. The source record gets info.version and the entry count
  // adjusted by what changed. Throws if the source does not exist.
  WriteResult apply_changes(const SourceInfo& info, const std::function<std::vector<KeyChange>(MDB_txn*)>& changes);
  // Removes a source and its contributions; throws if the source does not exist.
  WriteResult remove_source(std::string_view name);
  // Folds the lookup index's delta into a new base, in one write txn that bumps the generation
  // and changes no entry. Imports write a delta while the keys they changed since the base stay
  // under name_index::delta_limit (no rewrite of a base of hundreds of MB for a small feed), and
  // every lookup then checks each candidate against the delta too: after a round of feed
  // updates, this makes lookups probe one index again. Returns the delta's key count (0: there
  // was no delta, nothing was written) and the generation now current.
  // It also rewrites values still in the first layout (value_layout.h): `relaid` of them.
  struct CompactResult {
    uint64_t delta_keys = 0, base_keys = 0, generation = 0, relaid = 0;
  };
  CompactResult compact();
  std::vector<SourceInfo> sources();
  CategoryStore& store() { return *store_; }

 private:
  WriteResult write(const SourceInfo& info, const EntrySet& entries, bool remove, const CategoryRegistry& registry,
                    const std::function<void(const WriteResult&)>& before_commit, const InTxn& also);
  WriteResult write_changes(const SourceInfo& info, const std::function<std::vector<KeyChange>(MDB_txn*)>& changes);
  const CategoryRegistry& registry_;
  std::unique_ptr<CategoryStore> store_;
};

// Decoding of the sources DB record, shared with the CLI.
std::string encode_source(const SourceInfo& s);
bool decode_source(std::string_view name, std::string_view value, SourceInfo& out);

}  // namespace sekisho::policy
