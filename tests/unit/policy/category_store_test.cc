// tests/unit/policy/category_store_test.cc — the store on a real LMDB in a temp dir: suffix
// matching, union across sources, source replacement/removal, generation, URLs, strategies.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "policy/import/idna.h"
#include "policy/import/importer.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/store_writer.h"

using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/sekisho_store_test_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

CategorySet cats(std::initializer_list<const char*> slugs) {
  CategorySet s;
  for (auto* slug : slugs) s.add(category_by_slug(slug)->id);
  return s;
}

// Imports `text` in `format` as source `name` with default categories.
void import_text(StoreWriter& w, const std::string& name, Format format, const std::string& text,
                 CategorySet defaults) {
  ImportOptions opt;
  opt.format = format;
  opt.categories = defaults;
  EntrySet set;
  ImportReport report;
  ImportSink sink(set, report, opt);
  sink.set_file(name);
  parse_text(format, text, sink);
  set.finalize();
  SourceInfo info;
  info.name = name;
  info.format = std::string(format_name(format));
  info.default_categories = defaults;
  w.replace_source(info, set);
}

}  // namespace


TEST_CASE("store: exact vs subtree, most specific wins, both strategies") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_text(w, "csv", Format::kCsv,
              "example.com,news\n"
              "ads.example.com,ads\n"
              "exact.example.org,gambling,exact\n"
              "example.org,adult\n"
              "只.jp,games\n",
              {});
  import_text(w, "hosts", Format::kHosts, "0.0.0.0 host.only.net\n0.0.0.0 1.2.3.4\n", cats({"malware"}));
  auto store = CategoryStore::open(dir.path.string());
  for (auto strategy : {LookupStrategy::kPerLabel, LookupStrategy::kSeekRange}) {
    CAPTURE(static_cast<int>(strategy));
    CategoryReader r(*store, strategy);
    REQUIRE(r.begin_batch());
    Match m = r.lookup_domain("example.com");
    CHECK(m.found);
    CHECK(m.exact_match);
    CHECK(m.categories == cats({"news"}));
    m = r.lookup_domain("www.example.com");
    CHECK(m.found);
    CHECK_FALSE(m.exact_match);
    CHECK(m.matched_key == "com.example");
    m = r.lookup_domain("x.ads.example.com.");
    CHECK(m.categories == cats({"ads"}));
    CHECK(m.matched_key == "com.example.ads");
    m = r.lookup_domain("ADS.Example.Com");
    CHECK(m.categories == cats({"ads"}));
    CHECK(r.lookup_domain("example.net").found == false);
    CHECK(r.lookup_domain("com").found == false);
    CHECK(r.lookup_domain("aexample.com").found == false);
    // Exact entry: only the name itself; subdomains fall through to the parent.
    CHECK(r.lookup_domain("exact.example.org").categories == cats({"gambling"}));
    CHECK(r.lookup_domain("sub.exact.example.org").categories == cats({"adult"}));
    CHECK(r.lookup_domain("host.only.net").categories == cats({"malware"}));
    CHECK_FALSE(r.lookup_domain("www.host.only.net").found);
    // IPv4 literal: exact only.
    CHECK(r.lookup_domain("1.2.3.4").found);
    CHECK_FALSE(r.lookup_domain("0.1.2.3.4").found);
    std::string a_label, reason;
    REQUIRE(normalize_name("只.jp", a_label, reason));
    CHECK(a_label.starts_with("xn--"));
    CHECK(r.lookup_domain(a_label).categories == cats({"games"}));
    const uint8_t wire[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
    CHECK(r.lookup_wire(wire).categories == cats({"news"}));
    CHECK(r.generation() == 2);
    r.end_batch();
    CHECK_FALSE(r.lookup_domain("example.com").found);  // outside a batch: no snapshot
  }
}

TEST_CASE("store: union across sources, replacement and removal, generation") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_text(w, "a", Format::kDomains, "shared.com\nonly-a.com\ngone.com\n", cats({"malware"}));
  import_text(w, "b", Format::kDomains, "shared.com\nonly-b.com\n", cats({"phishing"}));
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("shared.com").categories == cats({"malware", "phishing"}));
  CHECK(r.generation() == 2);
  r.end_batch();

  // Re-import a without gone.com and with a new name: gone.com disappears, b untouched.
  import_text(w, "a", Format::kDomains, "shared.com\nonly-a.com\nnew-a.com\n", cats({"malware"}));
  REQUIRE(r.begin_batch());  // the renewed txn sees the new generation
  CHECK(r.generation() == 3);
  CHECK_FALSE(r.lookup_domain("gone.com").found);
  CHECK(r.lookup_domain("new-a.com").found);
  CHECK(r.lookup_domain("only-b.com").categories == cats({"phishing"}));
  CHECK(r.lookup_domain("shared.com").categories == cats({"malware", "phishing"}));
  r.end_batch();

  // Re-import a with other categories: the union is recomputed, not accumulated.
  import_text(w, "a", Format::kDomains, "shared.com\n", cats({"ads"}));
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("shared.com").categories == cats({"ads", "phishing"}));
  CHECK_FALSE(r.lookup_domain("only-a.com").found);
  r.end_batch();

  w.remove_source("b");
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("shared.com").categories == cats({"ads"}));
  CHECK_FALSE(r.lookup_domain("only-b.com").found);
  CHECK(r.generation() == 5);
  r.end_batch();
  CHECK_THROWS(w.remove_source("b"));
  auto sources = w.sources();
  REQUIRE(sources.size() == 1);
  CHECK(sources[0].name == "a");
  CHECK(sources[0].domain_entries == 1);
}

TEST_CASE("store: exact and subtree contributions on one key") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_text(w, "hosts", Format::kHosts, "0.0.0.0 mixed.com\n", cats({"malware"}));
  import_text(w, "dom", Format::kDomains, "mixed.com\n", cats({"ads"}));
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("mixed.com").categories == cats({"malware", "ads"}));
  CHECK(r.lookup_domain("www.mixed.com").categories == cats({"ads"}));
  r.end_batch();
}

TEST_CASE("store: URL entries and the has-url marker") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  ImportSink sink(set, report, opt);
  sink.add_name("example.com", kFlagSubtree, cats({"news"}), 1);
  sink.add_url("videos.example.com/adult/clips", cats({"adult"}), 2);
  sink.add_url("178.128.25.172/watch", cats({"adult"}), 3);
  CHECK_FALSE(sink.add_url("bad host.com/x", cats({"adult"}), 4));
  set.finalize();
  w.replace_source(SourceInfo{.name = "u"}, set);
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  Match m = r.lookup_domain("videos.example.com");
  CHECK(m.has_url_entries);
  CHECK(m.categories == cats({"news"}));  // URL-only marker falls through to the parent
  CHECK_FALSE(r.lookup_domain("example.com").has_url_entries);
  UrlMatch u = r.lookup_url("videos.example.com", "/adult/clips/123.html");
  CHECK(u.found);
  CHECK(u.categories == cats({"adult"}));
  CHECK(u.matched_key == "com.example.videos/adult/clips");
  CHECK_FALSE(r.lookup_url("videos.example.com", "/adult/clipsX").found);
  CHECK_FALSE(r.lookup_url("videos.example.com", "/other").found);
  CHECK(r.lookup_url("178.128.25.172", "/watch?v=1").found == false);  // '?' is not a boundary
  CHECK(r.lookup_url("178.128.25.172", "/watch/1").found);
  r.end_batch();
}

TEST_CASE("store: opening a missing store fails with the path; create_if_missing works") {
  TempDir dir;
  auto p = (dir.path / "nope").string();
  CHECK_THROWS_WITH_AS(CategoryStore::open(p), doctest::Contains("nope"), StoreError);
  auto store = CategoryStore::open(p, {.read_only = true, .create_if_missing = true});
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  CHECK_FALSE(r.lookup_domain("example.com").found);
  CHECK(r.generation() == 0);
  r.end_batch();
}
