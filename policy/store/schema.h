// policy/store/schema.h — the on-disk layout of the category store (one LMDB environment).
//
// Key-space summary (all named DBs live in one environment; every write happens in one
// write transaction per import, so readers see either the old or the new generation):
//
//   domains     key   reversed-label name, lowercase A-labels joined by '.':
//                     "ads.example.com" -> "com.example.ads". IPv4 literals are stored the same
//                     way ("1.2.3.4" -> "4.3.2.1") but always as exact entries.
//               value EntryValue (entry_codec.h): union of categories, union of categories of
//                     subtree contributions, flags (exact/subtree/has-url), then one
//                     contribution per source (source id, flags, categories) so that
//                     re-importing or removing a source can recompute the union.
//   urls        key   reversed host, '/', canonical path prefix (url_form.h), and for entries with
//                     a query '?' and its sorted parameters: "com.example/videos/adult",
//                     "com.example/watch?list=x&v=abc"
//               value EntryValue (flags unused except kFlagUrl).
//   categories  key   slug; value "id\tgroup\tenglish\tjapanese" (copy of the built-in
//                     registry, for tools that read the DB without our code).
//   sources     key   source name; value SourceRecord text (see store_writer.cc).
//   meta        key   "schema_version" | "generation" | "last_update" | "url_key_form"; value u64
//                     little endian.
//   index       key   generation u64 BE + chunk u32 BE; value one chunk of the lookup index of
//                     `domains` for that generation (name_index.h), rewritten by every import in
//                     its own write txn. Optional: a snapshot without a matching index is read
//                     through the B-tree (stores written by older versions).
//   feed_records key  source name, NUL, reversed-label key; value the RPZ records of a zone-
//                     transfer feed that map to that key (feed/rpz_apply.h), so an IXFR can
//                     change one record of several. Written only by sekisho-feed, in the
//                     transaction of the entries it explains.
//
// Invariants: a key exists in domains iff at least one contribution remains; the header of a
// value always equals the fold of its contributions (checked by `sekisho db verify`).
#pragma once

#include <cstdint>

namespace sekisho::policy::schema {

inline constexpr const char* kDbDomains = "domains";
inline constexpr const char* kDbUrls = "urls";
inline constexpr const char* kDbCategories = "categories";
inline constexpr const char* kDbSources = "sources";
inline constexpr const char* kDbMeta = "meta";
inline constexpr const char* kDbIndex = "index";
inline constexpr const char* kDbFeedRecords = "feed_records";

inline constexpr const char* kMetaSchemaVersion = "schema_version";
inline constexpr const char* kMetaGeneration = "generation";
inline constexpr const char* kMetaLastUpdate = "last_update";
// The form of the `urls` keys: absent (1) is the form before issue 19 (the path as listed, its
// trailing '/' dropped); 2 is url_form.h's canonical form. A writer re-keys an older store in
// its first write transaction (store_writer.cc); readers of a store not yet re-keyed also look
// the path up as before, so nothing that matched stops matching.
inline constexpr const char* kMetaUrlKeyForm = "url_key_form";
inline constexpr uint64_t kUrlKeyForm = 2;

inline constexpr uint64_t kSchemaVersion = 1;
inline constexpr unsigned kMaxDbs = 8;
// Reader slots: one per loop thread of sekishod plus CLI readers; stale slots of dead
// processes are reclaimed with mdb_reader_check.
inline constexpr unsigned kMaxReaders = 510;
// Initial map size for writers. The file does not grow to this size (no MDB_WRITEMAP); the
// writer doubles it on MDB_MAP_FULL and readers adopt it on MDB_MAP_RESIZED.
inline constexpr uint64_t kInitialMapSize = uint64_t{4} << 30;

// The packaged store: the directory the sekisho group shares (systemd/sekisho.tmpfiles), which
// the packaged sekisho.yaml's category_db names too.
inline constexpr const char* kDefaultDbPath = "/var/lib/sekisho-categories/categories";

}  // namespace sekisho::policy::schema
