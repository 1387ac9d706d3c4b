// tests/unit/policy/csv_export_test.cc — `sekisho db export` output imports back exactly: a
// generated store (several sources, multi-category entries, allow entries, exact and subtree
// scope, IPv4 literals, URL entries whose paths need RFC 4180 quoting) is exported, imported as
// csv into a fresh store and exported again: the same bytes, and every lookup answers the same.
// Fixed seed (SEKISHO_TEST_SEED overrides it), printed with every failure.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "policy/import/csv_export.h"
#include "policy/import/importer.h"
#include "policy/import/update_guard.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/store_writer.h"
#include "policy/store/url_form.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/test_seed.h"

using namespace sekisho::policy;
using sekisho::test::TempDir;

namespace {

const CategoryRegistry& reg() { return CategoryRegistry::builtins(); }

std::string export_text(StoreWriter& w, std::optional<uint16_t> source, ExportReport* report = nullptr) {
  std::ostringstream out;
  ExportReport r = export_csv(w.store(), reg(), source, out);
  if (report) *report = r;
  return out.str();
}

uint16_t source_id(StoreWriter& w, const std::string& name) {
  for (const auto& s : w.sources())
    if (s.name == name) return s.id;
  FAIL("no source " << name);
  return 0;
}

// `text` imported as csv (the guard on, as `sekisho db import` does) into source `name`.
void import_csv(StoreWriter& w, const std::string& name, const std::string& text, const TempDir& tmp) {
  const std::string file = (tmp.path / (name + ".csv")).string();
  std::ofstream(file, std::ios::binary) << text;
  ImportOptions opt;
  opt.format = Format::kCsv;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  EntrySet set;
  ImportReport report;
  import_input(file, opt, set, report);
  CHECK(diag.str() == "");  // no line of an export is refused
  CHECK(report.refused == 0);
  set.finalize();
  SourceInfo info;
  info.name = name;
  info.format = "csv";
  guarded_replace(w, info, set, nullptr, UpdateLimits{});
}

struct Generated {
  std::vector<std::string> names;                    // every domain entry's name
  std::vector<std::pair<std::string, std::string>> urls;  // host, path
};

// Three sources over one pool of names; each name has one scope in all of them (two sources
// giving one name different scopes is the case a whole-store row cannot hold, tested apart).
Generated generate(StoreWriter& w, std::mt19937_64& rng) {
  const char* slugs[] = {"allowlist", "adult", "gambling", "malware", "phishing", "ads", "chat", "news"};
  auto random_cats = [&] {
    CategorySet c;
    const size_t n = 1 + rng() % 3;
    for (size_t i = 0; i < n; ++i) c.add(reg().by_slug(slugs[rng() % std::size(slugs)])->id);
    return c;
  };
  Generated g;
  std::map<std::string, uint8_t> scope;
  for (int i = 0; i < 150; ++i) {
    std::string name;
    switch (rng() % 5) {
      case 0: name = "10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + "." + std::to_string(i % 256); break;
      case 1: name = "n" + std::to_string(i) + ".xn--wgv71a119e.jp"; break;  // under 日本語.jp
      case 2: name = "_u" + std::to_string(i) + ".sub.example.co.uk"; break;
      default: name = "n" + std::to_string(i) + (rng() % 2 ? ".example" : ".ads.example.com");
    }
    if (scope.count(name)) continue;
    scope[name] = is_ipv4_literal(name) || rng() % 3 == 0 ? kFlagExact : kFlagSubtree;
    g.names.push_back(name);
  }
  const char* path_bits[] = {"a", "b,c", "q\"x\"", "type:bdsm", "100%", "x=1&y=2", "a b", "go?to=http://x", "日本"};
  std::vector<std::string> sources = {"s1", "s2", "s3"};
  char key[kMaxUrlKeyLen + 1];
  for (const auto& source : sources) {
    EntrySet set;
    for (const auto& name : g.names)
      if (rng() % 2) set.add_domain(std::string_view(key, make_name_key(name, key)), scope[name], random_cats());
    for (int u = 0; u < 25; ++u) {
      const std::string host = rng() % 2 ? g.names[rng() % g.names.size()] : "h" + std::to_string(u) + ".example";
      std::string path = path_bits[rng() % std::size(path_bits)];
      if (rng() % 2) path += "/" + std::string(path_bits[rng() % std::size(path_bits)]);
      // Keyed as an import keys it: the store holds URL keys in the canonical form (url_form.h).
      const std::string_view host_key(key, make_name_key(host, key));
      std::string url_key;
      REQUIRE(url::key_of(host_key, url::split_target(path), url_key));
      set.add_url(host_key, std::string_view(url_key).substr(host_key.size() + 1), random_cats());
      g.urls.emplace_back(host, path);
    }
    set.finalize();
    SourceInfo info;
    info.name = source;
    info.format = "csv";
    w.replace_source(info, set);
  }
  return g;
}

void check_same_lookups(StoreWriter& a, StoreWriter& b, const Generated& g) {
  CategoryReader ra(a.store()), rb(b.store());
  REQUIRE(ra.begin_batch());
  REQUIRE(rb.begin_batch());
  for (const auto& base : g.names) {
    for (const std::string& name : {base, "www." + base}) {
      CAPTURE(name);
      const Match ma = ra.lookup_domain(name);
      const std::string ka(ma.matched_key);
      const Match mb = rb.lookup_domain(name);
      CHECK(ma.found == mb.found);
      CHECK(ma.categories == mb.categories);
      CHECK(ma.exact_match == mb.exact_match);
      CHECK(ma.has_url_entries == mb.has_url_entries);
      CHECK(ka == std::string(mb.matched_key));
    }
  }
  for (const auto& url : g.urls) {
    const auto& host = url.first;  // not a structured binding: clang 14 cannot CAPTURE one
    const auto& path = url.second;
    for (const std::string& p : {path, path + "/deeper", std::string("other")}) {
      CAPTURE(host);
      CAPTURE(p);
      const UrlMatch ua = ra.lookup_url(host, p);
      const UrlMatch ub = rb.lookup_url(host, p);
      CHECK(ua.found == ub.found);
      CHECK(ua.categories == ub.categories);
    }
  }
  ra.end_batch();
  rb.end_batch();
}

}  // namespace

TEST_CASE("export round trip property: export, import into a fresh store, export again") {
  const uint64_t seed = sekisho::test::test_seed(0xc5e1);
  INFO(sekisho::test::seed_note(seed));
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    std::mt19937_64 rng(seed + static_cast<uint64_t>(round));
    TempDir tmp, da, db, dc;
    StoreWriter a(da.path.string());
    const Generated g = generate(a, rng);
    ExportReport report;
    const std::string first = export_text(a, std::nullopt, &report);
    CHECK(report.widened == 0);
    CHECK(report.url_rows > 0);
    CHECK(first.find("\"") != std::string::npos);  // some paths needed quoting
    StoreWriter b(db.path.string());
    import_csv(b, "restored", first, tmp);
    CHECK(export_text(b, std::nullopt) == first);
    check_same_lookups(a, b, g);

    // One source's export is that source exactly, in a store of its own too.
    const std::string s2 = export_text(a, source_id(a, "s2"));
    StoreWriter c(dc.path.string());
    import_csv(c, "s2", s2, tmp);
    CHECK(export_text(c, source_id(c, "s2")) == s2);
    CHECK(export_text(c, std::nullopt) == s2);
  }
}

TEST_CASE("export: rows, every category with ';', scopes, URL rows quoted as RFC 4180 says") {
  TempDir tmp, d;
  StoreWriter w(d.path.string());
  import_csv(w, "a", "casino.example,gambling;ads\n1.2.3.4,malware\nok.example,allowlist,exact\n"
                     "\"shop.example/a,b\",adult,url\n\"shop.example/say \"\"hi\"\"\",adult;gambling,url\n", tmp);
  CHECK(export_text(w, std::nullopt) ==
        "name,categories,scope\n"
        "1.2.3.4,malware,exact\n"
        "casino.example,gambling;ads,subtree\n"
        "ok.example,allowlist,exact\n"
        "\"shop.example/a,b\",adult,url\n"
        "shop.example/say%20%22hi%22,adult;gambling,url\n");  // the canonical URL form escapes ' ' and '"'
}

TEST_CASE("export: two sources giving one name different scopes are counted, written with subtree scope") {
  TempDir tmp, d;
  StoreWriter w(d.path.string());
  import_csv(w, "exact", "mix.example,malware,exact\n", tmp);
  import_csv(w, "wide", "mix.example,ads,subtree\n", tmp);
  ExportReport report;
  CHECK(export_text(w, std::nullopt, &report) == "name,categories,scope\nmix.example,malware;ads,subtree\n");
  CHECK(report.widened == 1);
  CHECK(export_text(w, source_id(w, "exact")) == "name,categories,scope\nmix.example,malware,exact\n");
}
