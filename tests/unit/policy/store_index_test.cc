// tests/unit/policy/store_index_test.cc — the lookup index (policy/store/name_index.h): the
// indexed path answers exactly what the B-tree path answers, across imports, replacements,
// removals, URL markers, IPv4 literals and long names, one name at a time or in batches; a
// snapshot never uses an index of another generation; and lookups allocate nothing.
#include <doctest/doctest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/name_index.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

using sekisho::test::TempDir;

// Small alphabets so that names share many ancestors (the interesting case for suffix rules).
std::string random_name(std::mt19937_64& rng) {
  static const char* labels[] = {"a", "b", "ab", "www", "x1", "cdn", "m-n", "_v", "zz"};
  // "123": keys that start with a digit are looked up as literals (exact candidate only).
  static const char* tlds[] = {"com", "jp", "co.jp", "org", "123"};
  std::string n = tlds[rng() % 5];
  const int extra = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < extra; ++i) n = std::string(labels[rng() % 9]) + "." + n;
  return n;
}

std::string random_ipv4(std::mt19937_64& rng) {
  return std::to_string(rng() % 3) + "." + std::to_string(rng() % 3) + ".1." + std::to_string(rng() % 3);
}

std::string key_of(const std::string& name) {
  char buf[kMaxKeyLen];
  size_t n = make_name_key(name, buf);
  REQUIRE(n > 0);
  return std::string(buf, n);
}

// A random source: subtree and exact names, IPv4 literals (exact), a few URL entries.
EntrySet random_source(std::mt19937_64& rng, int n) {
  EntrySet set;
  for (int i = 0; i < n; ++i) {
    CategorySet c(uint64_t{1} << (rng() % 12));
    switch (rng() % 6) {
      case 0: set.add_domain(key_of(random_ipv4(rng)), kFlagExact, c); break;
      case 1: set.add_domain(key_of(random_name(rng)), kFlagExact, c); break;
      case 2: set.add_url(key_of(random_name(rng)), rng() % 2 ? "p/q" : "", c); break;
      default: set.add_domain(key_of(random_name(rng)), kFlagSubtree, c); break;
    }
  }
  set.finalize();
  return set;
}

void check_same(const Match& a, const Match& b, const std::string& q) {
  INFO("query " << q);
  CHECK(a.found == b.found);
  CHECK(a.categories.word(0) == b.categories.word(0));
  CHECK(a.exact_match == b.exact_match);
  CHECK(a.has_url_entries == b.has_url_entries);
  CHECK(a.entry_flags == b.entry_flags);
  CHECK(a.matched_key == b.matched_key);
}

std::vector<uint8_t> wire_of(std::string_view n) {
  std::vector<uint8_t> wire;
  while (!n.empty()) {
    size_t dot = n.find('.');
    std::string_view label = n.substr(0, dot);
    wire.push_back(static_cast<uint8_t>(label.size()));
    wire.insert(wire.end(), label.begin(), label.end());
    n = dot == std::string_view::npos ? std::string_view{} : n.substr(dot + 1);
  }
  wire.push_back(0);
  return wire;
}

// The batch paths (lookup_domains / lookup_wires: interleaved probes) against single lookups,
// for every strategy, in batches of odd sizes: 1, shorter than the pipeline, up to kMaxBatch,
// and longer (then only the last kMaxBatch results keep matched_key; the others have none).
void compare_batches(CategoryStore& store, const std::vector<std::string>& queries) {
  std::vector<std::string_view> names(queries.begin(), queries.end());
  std::vector<std::vector<uint8_t>> wire_store;
  for (const auto& q : queries) wire_store.push_back(wire_of(q));
  std::vector<std::span<const uint8_t>> wires(wire_store.begin(), wire_store.end());
  for (LookupStrategy strategy : {LookupStrategy::kPerLabel, LookupStrategy::kPerLabelBtree}) {
    CategoryReader batch(store, strategy), single(store, LookupStrategy::kPerLabel);
    REQUIRE(batch.begin_batch());
    REQUIRE(single.begin_batch());
    std::vector<Match> out(names.size());
    size_t pos = 0;
    for (size_t size : {size_t{1}, size_t{3}, size_t{9}, size_t{64}, size_t{200}, size_t{1000}}) {
      if (pos >= names.size()) break;
      const size_t n = std::min(size, names.size() - pos);
      for (int kind = 0; kind < 2; ++kind) {
        if (kind == 0) batch.lookup_domains(std::span(names).subspan(pos, n), std::span(out).subspan(pos, n));
        else batch.lookup_wires(std::span(wires).subspan(pos, n), std::span(out).subspan(pos, n));
        std::vector<std::string> keys;
        for (size_t i = pos; i < pos + n; ++i) keys.emplace_back(out[i].matched_key);
        for (size_t i = pos; i < pos + n; ++i) {
          Match b = single.lookup_domain(names[i]);
          Match a = out[i];
          a.matched_key = keys[i - pos];
          if (i + CategoryReader::kMaxBatch < pos + n) {
            CHECK(a.matched_key.empty());  // its key buffer went to a later name
            a.matched_key = b.matched_key;
          }
          check_same(a, b, std::string(names[i]) + (kind ? " (wire batch)" : " (batch)"));
        }
      }
      pos += n;
    }
    batch.end_batch();
    single.end_batch();
  }
}

// Every query through the index and through the B-tree, in one snapshot each.
void compare_all(CategoryStore& store, const std::vector<std::string>& queries) {
  CategoryReader indexed(store), btree(store, LookupStrategy::kPerLabelBtree);
  REQUIRE(indexed.begin_batch());
  REQUIRE(btree.begin_batch());
  REQUIRE(indexed.generation() == btree.generation());
  for (const auto& q : queries) {
    Match a = indexed.lookup_domain(q);
    std::string ka(a.matched_key);
    Match b = btree.lookup_domain(q);
    a.matched_key = ka;
    check_same(a, b, q);
    UrlMatch ua = indexed.lookup_url(q, "/p/q/r");
    std::string uka(ua.matched_key);
    UrlMatch ub = btree.lookup_url(q, "/p/q/r");
    CHECK(ua.found == ub.found);
    CHECK(ua.categories.word(0) == ub.categories.word(0));
    CHECK(uka == std::string(ub.matched_key));
  }
  indexed.end_batch();
  btree.end_batch();
  compare_batches(store, queries);
}

std::vector<std::string> query_mix(std::mt19937_64& rng) {
  std::vector<std::string> q;
  for (int i = 0; i < 3000; ++i) q.push_back(random_name(rng));
  for (int i = 0; i < 300; ++i) q.push_back(random_ipv4(rng));
  for (int i = 0; i < 300; ++i) q.push_back("deep." + random_name(rng) + ".");
  q.push_back("com");
  q.push_back("jp");
  q.push_back("1.1.1");
  q.push_back("123");
  q.push_back("a.123");
  return q;
}

// Kind and generation of the newest header chunk (chunk 0) in the index DB.
bool index_head(CategoryStore& store, unsigned char kind, uint64_t generation) {
  TxnGuard txn(store.env(), MDB_RDONLY, "test");
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn.get(), schema::kDbIndex, 0, &dbi) == MDB_SUCCESS);
  unsigned char k[13] = {kind};
  for (int i = 0; i < 8; ++i) k[1 + i] = static_cast<unsigned char>(generation >> (56 - 8 * i));
  MDB_val key{sizeof k, k}, v;
  return mdb_get(txn.get(), dbi, &key, &v) == MDB_SUCCESS;
}

}  // namespace

// limit: delta index size limit (0: default, so every change here is a delta; 1: every import
// rebuilds the base; 500: deltas that grow until a rebuild). page_cap: keys a page takes before
// the overflow table (0: the default, which these small stores never reach).
void import_sequence(uint64_t limit, unsigned page_cap = 0) {
  name_index::set_delta_limit_for_test(limit);
  name_index::set_page_cap_for_test(page_cap);
  TempDir dir;
  StoreWriter w(dir.path.string());
  std::mt19937_64 rng(20240611 + limit);
  const auto queries = query_mix(rng);
  auto import = [&](const char* name, int n) {
    EntrySet set = random_source(rng, n);
    SourceInfo info;
    info.name = name;
    info.format = "domains";
    w.replace_source(info, set);
  };
  import("one", 400);  // first import into an empty DB: base built from the entries
  CHECK(index_head(w.store(), name_index::kKindBase, w.store().current_generation()));
  compare_all(w.store(), queries);
  import("two", 400);  // second source: delta, or base rebuilt from the DB walk
  compare_all(w.store(), queries);
  import("one", 300);  // replacement
  compare_all(w.store(), queries);
  import("three", 200);
  w.remove_source("two");
  compare_all(w.store(), queries);
  for (int round = 0; round < 4; ++round) {
    import("four", 150 + 50 * round);
    compare_all(w.store(), queries);
  }
  {  // compact: the delta (if any) folded into a new base; the next import starts a delta on it
    const uint64_t before = w.store().current_generation();
    const bool had_delta = index_head(w.store(), name_index::kKindDelta, before);
    const StoreWriter::CompactResult c = w.compact();
    CHECK((c.delta_keys > 0) == had_delta);
    CHECK(c.generation == before + (had_delta ? 1 : 0));
    CHECK(w.store().current_generation() == c.generation);
    CHECK(index_head(w.store(), name_index::kKindBase, c.generation));
    CHECK_FALSE(index_head(w.store(), name_index::kKindDelta, c.generation));
    compare_all(w.store(), queries);
    CHECK(w.compact().delta_keys == 0);  // nothing left to fold
    CHECK(w.store().current_generation() == c.generation);
    import("four", 180);
    compare_all(w.store(), queries);
  }
  w.remove_source("one");
  w.remove_source("three");
  w.remove_source("four");
  compare_all(w.store(), queries);  // empty DB: tombstones only, or an empty base
  const uint64_t gen = w.store().current_generation();
  CHECK((index_head(w.store(), name_index::kKindBase, gen) || index_head(w.store(), name_index::kKindDelta, gen)));
  CHECK_FALSE(index_head(w.store(), name_index::kKindDelta, gen - 1));  // older deltas are gone
  if (limit == 1) CHECK(index_head(w.store(), name_index::kKindBase, gen));
  if (limit == 0) CHECK(index_head(w.store(), name_index::kKindDelta, gen));
  name_index::set_delta_limit_for_test(0);
  name_index::set_page_cap_for_test(0);
}

TEST_CASE("store index: answers exactly as the B-tree through imports, replacements and removals") {
  SUBCASE("deltas over the first base") { import_sequence(0); }
  SUBCASE("a new base for every import") { import_sequence(1); }
  SUBCASE("deltas growing into rebuilds") { import_sequence(500); }
  SUBCASE("most keys in the overflow tables (pages take 3)") {
    import_sequence(0, 3);
    import_sequence(1, 3);
  }
}

TEST_CASE("store index: long names and many labels") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  std::string many;  // 126 one-letter labels + "com": 255 bytes is too long; stop at 253
  while (many.size() + 2 + 3 <= 253) many += "a.";
  many += "com";
  std::string long_label(63, 'q');
  std::string longest = long_label + "." + long_label + "." + long_label + "." + std::string(57, 'r') + ".com";
  REQUIRE(longest.size() == 253);
  EntrySet set;
  set.add_domain(key_of("a.a.com"), kFlagSubtree, CategorySet(2));
  set.add_domain(key_of(longest), kFlagExact, CategorySet(4));
  set.add_domain(key_of(std::string(57, 'r') + ".com"), kFlagSubtree, CategorySet(8));
  set.finalize();
  SourceInfo info;
  info.name = "long";
  info.format = "domains";
  w.replace_source(info, set);
  compare_all(w.store(), {many, longest, long_label + "." + std::string(57, 'r') + ".com", "a.a.com", "b.a.com",
                          "x." + std::string(57, 'r') + ".com"});
  CategoryReader r(w.store());
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain(many).categories.word(0) == 2);
  CHECK(r.lookup_domain(longest).categories.word(0) == 4);
  CHECK(r.lookup_domain(longest).exact_match);
  r.end_batch();
}

TEST_CASE("store index: a snapshot never uses the index of another generation") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  EntrySet set;
  set.add_domain(key_of("old.example"), kFlagSubtree, CategorySet(2));
  set.finalize();
  SourceInfo info;
  info.name = "s";
  info.format = "domains";
  w.replace_source(info, set);
  CategoryStore& store = w.store();

  CategoryReader r(store);
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("a.old.example").found);
  CHECK_FALSE(r.lookup_domain("new.example").found);

  // A writer that does not know the index (an older version) adds a key and bumps the
  // generation: the index left in the DB is now for another generation and must be ignored.
  {
    TxnGuard txn(store.env(), 0, "test");
    std::vector<Contribution> c{{1, kFlagSubtree, CategorySet(4)}};
    std::string value;
    encode_entry(c, value);
    std::string k = key_of("new.example");
    MDB_val key = to_val(k), val = to_val(value);
    REQUIRE(mdb_put(txn.get(), store.domains_dbi(), &key, &val, 0) == MDB_SUCCESS);
    uint64_t g = 0;
    MDB_val gk = to_val(schema::kMetaGeneration), gv;
    REQUIRE(mdb_get(txn.get(), store.meta_dbi(), &gk, &gv) == MDB_SUCCESS);
    std::memcpy(&g, gv.mv_data, 8);
    ++g;
    MDB_val nv{8, &g};
    REQUIRE(mdb_put(txn.get(), store.meta_dbi(), &gk, &nv, 0) == MDB_SUCCESS);
    txn.commit("test");
  }
  // Same batch: still the old snapshot.
  CHECK_FALSE(r.lookup_domain("new.example").found);
  r.end_batch();
  REQUIRE(r.begin_batch());
  Match m = r.lookup_domain("x.new.example");  // B-tree fallback sees the new key
  CHECK(m.found);
  CHECK(m.categories.word(0) == 4);
  CHECK(r.lookup_domain("a.old.example").found);
  r.end_batch();

  // The next import by this version rebuilds the index for the new generation.
  EntrySet more;
  more.add_domain(key_of("third.example"), kFlagExact, CategorySet(8));
  more.finalize();
  info.name = "t";
  w.replace_source(info, more);
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("x.new.example").categories.word(0) == 4);
  CHECK(r.lookup_domain("third.example").exact_match);
  CHECK_FALSE(r.lookup_domain("x.third.example").found);
  r.end_batch();
  std::mt19937_64 rng(5);
  compare_all(store, query_mix(rng));
}

TEST_CASE("store index: 10,000 lookups allocate nothing and are noexcept") {
  static_assert(noexcept(std::declval<CategoryReader&>().lookup_domain(std::string_view{})));
  static_assert(noexcept(std::declval<CategoryReader&>().lookup_wire(std::span<const uint8_t>{})));
  static_assert(noexcept(std::declval<CategoryReader&>().lookup_url(std::string_view{}, std::string_view{})));
  static_assert(noexcept(std::declval<CategoryReader&>().begin_batch()));
  static_assert(noexcept(std::declval<CategoryReader&>().end_batch()));
  static_assert(noexcept(std::declval<CategoryReader&>().lookup_domains({}, {})));
  static_assert(noexcept(std::declval<CategoryReader&>().lookup_wires({}, {})));
  TempDir dir;
  StoreWriter w(dir.path.string());
  std::mt19937_64 rng(99);
  EntrySet set = random_source(rng, 2000);
  SourceInfo info;
  info.name = "s";
  info.format = "domains";
  w.replace_source(info, set);
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> wires;
  for (int i = 0; i < 10000; ++i) {
    names.push_back(random_name(rng));
    wires.push_back(wire_of(names.back()));
  }
  std::vector<std::string_view> views(names.begin(), names.end());
  std::vector<std::span<const uint8_t>> wire_views(wires.begin(), wires.end());
  Match batch_out[64];
  CategoryReader r(w.store());
  REQUIRE(r.begin_batch());  // first batch loads the index view (may allocate inside LMDB)
  r.end_batch();
  // The counting operator new of this binary lives in tests/unit/resolver/no_allocation_test.cc
  // and keeps its counter private to that file; mallinfo2 sees any allocation still held after
  // the loop (a growing buffer, a leak), which is what a per-lookup allocation would leave.
  uint64_t found = 0;
  const struct mallinfo2 before = mallinfo2();
  for (int i = 0; i < 10000; ++i) {
    if (i % 64 == 0) {
      if (i) r.end_batch();
      REQUIRE(r.begin_batch());
    }
    found += r.lookup_domain(names[i]).found;
    found += r.lookup_wire(wires[i]).found;
    found += r.lookup_url(names[i], "/p/q").found;
    if (i % 64 == 63) {  // the batch path over the 64 names of this batch
      r.lookup_domains(std::span(views).subspan(i - 63, 64), batch_out);
      r.lookup_wires(std::span(wire_views).subspan(i - 63, 64), batch_out);
      found += batch_out[0].found;
    }
  }
  r.end_batch();
  const struct mallinfo2 after = mallinfo2();
  CHECK(after.uordblks == before.uordblks);
  CHECK(after.hblkhd == before.hblkhd);
  CHECK(found > 0);
}

// The name memo (policy/store/name_memo.h) of a serving loop's reader: what it answers is what
// the store answers, in every snapshot. The reader lives through all the imports, as a loop's
// does; a memo keyed by name alone would answer the second round with the first round's data.
TEST_CASE("name memo: answers as the store, and no import leaves a remembered name stale") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  std::mt19937_64 rng(4242);
  const auto queries = query_mix(rng);
  std::vector<std::vector<uint8_t>> wires;
  for (const auto& q : queries) wires.push_back(wire_of(q));
  CategoryReader memoized(w.store());
  memoized.enable_memo(256);  // far fewer slots than names: most names displace others
  REQUIRE(memoized.memo()->capacity() == 256);
  uint64_t changed = 0;  // remembered answers an import changed
  std::vector<uint64_t> before(queries.size(), ~uint64_t{0});
  for (int round = 0; round < 5; ++round) {
    EntrySet set = random_source(rng, 300);
    SourceInfo info;
    info.name = round % 2 ? "one" : "two";
    info.format = "domains";
    w.replace_source(info, set);  // replaces that source: earlier answers change
    CategoryReader plain(w.store());
    for (int pass = 0; pass < 2; ++pass) {  // the second pass finds the names the memo kept
      const uint64_t hits = memoized.memo()->hits();
      REQUIRE(memoized.begin_batch());
      REQUIRE(plain.begin_batch());
      for (size_t i = 0; i < queries.size(); ++i) {
        Match a = memoized.lookup_wire(wires[i]);
        Match b = plain.lookup_wire(wires[i]);
        a.matched_key = b.matched_key = {};
        check_same(a, b, queries[i] + " round " + std::to_string(round));
        if (pass == 0 && before[i] != ~uint64_t{0} && before[i] != b.categories.word(0)) ++changed;
        before[i] = b.categories.word(0);
      }
      memoized.end_batch();
      plain.end_batch();
      if (pass == 1) CHECK(memoized.memo()->hits() - hits > 100);
    }
  }
  CHECK(changed > 100);  // the rounds did change what names resolve to
  CHECK(memoized.memo()->misses() > 0);
}

TEST_CASE("name memo: long names are looked up every time, and still answered") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  EntrySet set;
  const std::string parent = "a-rather-long-label-for-a-cdn-name.example.com";  // wire > kMaxWire
  set.add_domain(key_of(parent), kFlagSubtree, CategorySet(uint64_t{1} << 3));
  set.finalize();
  SourceInfo info;
  info.name = "s";
  info.format = "domains";
  w.replace_source(info, set);
  CategoryReader r(w.store());
  r.enable_memo(64);
  const auto wire = wire_of("www." + parent);
  REQUIRE(wire.size() > NameMemo::kMaxWire);
  REQUIRE(r.begin_batch());
  for (int i = 0; i < 3; ++i) {
    Match m = r.lookup_wire(wire);
    CHECK(m.found);
    CHECK(m.categories.word(0) == (uint64_t{1} << 3));
  }
  r.end_batch();
  CHECK(r.memo()->hits() == 0);
}
