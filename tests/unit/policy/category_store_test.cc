// tests/unit/policy/category_store_test.cc — the store on a real LMDB in a temp dir: suffix
// matching, union across sources, source replacement/removal, generation, URLs, strategies.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policy/import/idna.h"
#include "policy/import/importer.h"
#include "config/yaml/category_file.h"
#include "policy/store/category_store.h"
#include "policy/store/category_table.h"
#include "policy/store/entry_codec.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

using sekisho::test::TempDir;

CategorySet cats(std::initializer_list<const char*> slugs) {
  CategorySet s;
  for (auto* slug : slugs) s.add(CategoryRegistry::builtins().by_slug(slug)->id);
  return s;
}

// Imports `text` in `format` as source `name` with default categories, its slugs meaning what
// `registry` says.
void import_text(StoreWriter& w, const std::string& name, Format format, const std::string& text,
                 CategorySet defaults, const CategoryRegistry& registry = CategoryRegistry::builtins()) {
  ImportOptions opt;
  opt.format = format;
  opt.categories = defaults;
  opt.registry = &registry;
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
  w.replace_source(info, set, &registry);
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
    // A name whose last label extends the entry's ("com.examplefoo" begins with "com.example")
    // is not in its subtree: matches end at a label boundary.
    CHECK(r.lookup_domain("examplefoo.com").found == false);
    CHECK(r.lookup_domain("www.examplefoo.com").found == false);
    CHECK(r.lookup_domain("adsx.example.com").matched_key == "com.example");
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
  SourceInfo info;
  info.name = "u";
  w.replace_source(info, set);
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
  CHECK(r.lookup_url("178.128.25.172", "/watch?v=1").found);  // an entry without a query: any query
  CHECK_FALSE(r.lookup_url("178.128.25.172", "/watch%3Fv=1").found);  // an encoded '?' is part of the path
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

TEST_CASE("store: create_if_missing makes no world-writable directory, even under umask 000") {
  TempDir dir;
  const auto p = dir.path / "var" / "store";
  const mode_t old_umask = ::umask(0);
  auto store = CategoryStore::open(p.string(), {.create_if_missing = true});
  ::umask(old_umask);
  CHECK((std::filesystem::status(dir.path / "var").permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms(0755));
  CHECK((std::filesystem::status(p).permissions() & std::filesystem::perms::all) == std::filesystem::perms(0755));
}

namespace {

// The built-ins plus `defs`, as a configuration with a categories file would have them.
std::shared_ptr<const CategoryRegistry> registry_of(std::vector<CategoryDefinition> defs) {
  return std::make_shared<const CategoryRegistry>(std::move(defs));
}

CategoryDefinition def(uint8_t id, const char* slug, CategoryKind kind = CategoryKind::kContent) {
  const auto* group = sekisho::config::category_group(kind == CategoryKind::kSecurity ? "security" : "other");
  return CategoryDefinition{id, slug, std::string("EN ") + slug, std::string("JA ") + slug, kind, group->id, {"test", 1, 0}};
}

std::string write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

// "file:line: message", as `sekisho db --categories` has always shown them.
std::vector<std::string> error_lines(const std::vector<sekisho::config::ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(e.file + (e.line > 0 ? ":" + std::to_string(e.line) : std::string()) + ": " + e.message);
  return out;
}

}  // namespace

TEST_CASE("categories file: YAML and CSV add categories after the built-ins") {
  TempDir dir;
  std::vector<sekisho::config::ConfigError> errors;
  auto yaml = write_file(dir.path / "c.yaml",
                         "categories:\n"
                         "  - id: 32\n"
                         "    slug: intranet\n"
                         "    group: content\n"
                         "    en: Intranet\n"
                         "    ja: 社内サイト\n"
                         "  - {id: 40, slug: c2, group: security, en: Command and control, ja: C2サーバ}\n");
  auto defs = sekisho::config::read_category_file(yaml, errors);
  REQUIRE(errors.empty());
  REQUIRE(defs.size() == 2);
  CHECK(defs[1].id == 40);
  CHECK(defs[1].kind == CategoryKind::kSecurity);
  CHECK(defs[1].defined_at() == yaml + ":7");
  {
    const auto registry = registry_of(defs);
    REQUIRE(registry->by_slug("intranet"));
    CHECK(registry->by_slug("intranet")->id == 32);
    CHECK(registry->by_slug("intranet")->name_ja == "社内サイト");
    CHECK(registry->by_id(40)->slug == "c2");
    CHECK(registry->by_id(40)->defined_at == yaml + ":7");
    CHECK(registry->by_id(41) == nullptr);
    CHECK(registry->slugs(CategorySet((uint64_t{1} << 40) | (uint64_t{1} << 3))) == "malware,c2");
    CHECK(registry->all().size() == sekisho::config::builtin_categories().size() + 2);
    CHECK(registry->security().contains(40));
    CHECK_FALSE(registry->security().contains(32));
  }
  CHECK(CategoryRegistry::builtins().by_slug("intranet") == nullptr);
  CHECK(CategoryRegistry::builtins().slugs(CategorySet(uint64_t{1} << 40)) == "#40");

  auto csv = write_file(dir.path / "c.csv",
                        "id,slug,group,en,ja\n"
                        "# a comment\n"
                        "33,corp_news,content,\"News, internal\",社内ニュース\n");
  defs = sekisho::config::read_category_file(csv, errors);
  REQUIRE(errors.empty());
  REQUIRE(defs.size() == 1);
  CHECK(defs[0].name_en == "News, internal");
  CHECK(defs[0].defined_at() == csv + ":3");
}

TEST_CASE("categories: a registry is a value; one built again from the same definitions is the same") {
  // What a reload that leaves the categories file alone compiles: the query log keeps one
  // registry per change (QueryLogWriter::add_category_registry), not one per reload.
  const std::vector<CategoryDefinition> defs{def(40, "c2", CategoryKind::kSecurity), def(33, "intranet")};
  const auto installed = registry_of(defs);
  const auto again = registry_of(defs);
  CHECK(again->same_as(*installed));
  CHECK(again->serial() != installed->serial());  // text kept per registry is never mixed up
  CHECK(registry_of({})->same_as(CategoryRegistry::builtins()));
  CHECK_FALSE(installed->same_as(CategoryRegistry::builtins()));
  const CategoryInfo* c2 = installed->by_id(40);
  REQUIRE(c2 != nullptr);

  auto renamed = defs;
  renamed[0].name_ja = "C2サーバ";  // any field differs: another registry
  const auto changed = registry_of(renamed);
  CHECK_FALSE(changed->same_as(*installed));
  REQUIRE(changed->by_id(40) != nullptr);
  CHECK(changed->by_id(40)->name_ja == "C2サーバ");
  CHECK(c2->name_ja == "JA c2");  // the old one stays readable, unchanged
  CHECK(CategoryRegistry::builtins().by_id(40) == nullptr);

  // Definitions the checker would refuse never reach a lookup: another's id or slug, or an id
  // outside a file's ids.
  const auto odd = registry_of({def(40, "c2"), def(40, "other"), def(41, "c2"), def(12, "low"), def(42, "ads")});
  CHECK(odd->all().size() == sekisho::config::builtin_categories().size() + 1);
  CHECK(odd->by_id(41) == nullptr);
  CHECK(odd->by_slug("low") == nullptr);
  CHECK(odd->by_slug("ads")->id == 7);
}

TEST_CASE("categories file: every problem is reported with file:line") {
  TempDir dir;
  std::vector<sekisho::config::ConfigError> errors;
  auto csv = write_file(dir.path / "bad.csv",
                        "32,intranet,content,Intranet,社内\n"
                        "33,intranet,content,Again,再び\n"
                        "34,ads,content,Ads again,広告\n"
                        "32,other,content,Other,他\n"
                        "12,low,content,Low,低\n"
                        "64,high,content,High,高\n"
                        "35,Bad Slug,content,Bad,悪\n"
                        "36,grp,allow,Group,群\n"
                        "37,short,content\n"
                        "38,noja,content,No Japanese,\n"
                        "39,scary_kind,content,Scary,怖,scary\n"
                        "40,intranet_chat,communication,Intranet chat,社内チャット,security\n"
                        "200,anime_streams,entertainment,Anime streams,アニメ配信\n"
                        "201,old_style,security,Old style,旧形式\n");
  std::string known_groups;
  for (const auto& g : sekisho::config::category_groups())
    if (g.kind != CategoryKind::kAllow) known_groups += (known_groups.empty() ? "" : " ") + std::string(g.slug);
  auto defs = sekisho::config::read_category_file(csv, errors);
  CHECK(error_lines(errors) ==
        std::vector<std::string>{
            csv + ":2: slug 'intranet' is already defined at line 1",
            csv + ":3: slug 'ads' is a built-in category (id 7)",
            csv + ":4: id 32 is already used by 'intranet' at line 1",
            csv + ":5: id 12 is out of range: a file's categories use 32–63 or 192–255 (0–31 and 64–191 belong to the built-ins)",
            csv + ":6: id 64 is out of range: a file's categories use 32–63 or 192–255 (0–31 and 64–191 belong to the built-ins)",
            csv + ":7: slug 'Bad Slug' must be 1–32 characters of a-z 0-9 _ -, starting with a letter",
            csv + ":8: group 'allow' is not a group (known: " + known_groups + ")",
            csv + ":9: expected 5 fields id,slug,group,en,ja (and optionally kind); found 3",
            csv + ":10: missing 'ja'",
            csv + ":11: kind 'scary' must be security or content",
        });
  // Rows that are fine: a group by its slug, a kind other than the group's, an id past 191.
  REQUIRE(defs.size() == 4);
  CHECK(defs[1].slug == "intranet_chat");
  CHECK(sekisho::config::category_groups()[defs[1].group].slug == "communication");
  CHECK(defs[1].kind == CategoryKind::kSecurity);
  CHECK(defs[2].id == 200);
  CHECK(sekisho::config::category_groups()[defs[2].group].slug == "entertainment");
  CHECK(defs[2].kind == CategoryKind::kContent);
  CHECK(defs[3].id == 201);  // `group: security`, as files said before groups: the security group
  CHECK(sekisho::config::category_groups()[defs[3].group].slug == "security");
  CHECK(defs[3].kind == CategoryKind::kSecurity);
  for (const auto& e : errors) CHECK(e.path == "categories_file");  // check-config prints it

  errors.clear();
  auto yaml = write_file(dir.path / "bad.yaml",
                         "categories:\n"
                         "  - id: 32\n"
                         "    slug: x1\n"
                         "    group: content\n"
                         "    colour: red\n"
                         "    en: X\n"
                         "    ja: X\n"
                         "  - id: 33\n"
                         "    slug: x2\n"
                         "    group: nonsense\n"
                         "    en: X\n"
                         "    ja: X\n");
  sekisho::config::read_category_file(yaml, errors);
  CHECK(error_lines(errors) == std::vector<std::string>{
                                   yaml + ":5: unknown key 'colour' (expected id, slug, group, kind, en, ja)",
                                   yaml + ":8: group 'nonsense' is not a group (known: " + known_groups + ")",
                               });

  errors.clear();
  CHECK(sekisho::config::read_category_file(write_file(dir.path / "c.txt", ""), errors).empty());
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "unknown categories file type: name it .yaml, .yml or .csv");
  errors.clear();
  CHECK(sekisho::config::read_category_file((dir.path / "missing.yaml").string(), errors).empty());
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("cannot open") == 0);
}

TEST_CASE("store: added categories keep their ids; a renumbering file is refused") {
  TempDir dir;
  const auto intranet32 = registry_of({def(32, "intranet")});
  const auto intranet33 = registry_of({def(33, "intranet")});
  {
    StoreWriter w(dir.path.string(), *intranet32);
    import_text(w, "corp", Format::kCsv, "wiki.corp.example,intranet\n", {}, *intranet32);
    auto store = CategoryStore::open(dir.path.string(), {.registry = intranet32.get()});
    CategoryReader r(*store);
    REQUIRE(r.begin_batch());
    Match m = r.lookup_domain("a.wiki.corp.example");
    CHECK(m.categories == CategorySet(uint64_t{1} << 32));
    r.end_batch();
  }
  {  // same slug, another id: the import and the open both refuse, naming the definition
    CHECK_THROWS_WITH_AS(StoreWriter(dir.path.string(), *intranet33),
                         doctest::Contains("'intranet' has id 33 in test:1 but id 32 in the store (keep id 32)"),
                         StoreError);
    CHECK_THROWS_WITH_AS(CategoryStore::open(dir.path.string(), {.registry = intranet33.get()}),
                         doctest::Contains("'intranet' has id 33"), StoreError);
  }
  {  // a writer opened with other categories than an import's: the write itself is refused too
    StoreWriter w(dir.path.string());
    CHECK_THROWS_WITH_AS(import_text(w, "corp", Format::kCsv, "x.example,intranet\n", {}, *intranet33),
                         doctest::Contains("'intranet' has id 33"), StoreError);
  }
  {  // the id given to another slug
    const auto corp32 = registry_of({def(32, "corp")});
    CHECK_THROWS_WITH_AS(CategoryStore::open(dir.path.string(), {.registry = corp32.get()}),
                         doctest::Contains("id 32 is 'intranet' in the store but 'corp' in test:1"), StoreError);
  }
  {  // built-ins only: the store's category prints as #32, nothing is refused
    auto store = CategoryStore::open(dir.path.string());
    CategoryReader r(*store);
    REQUIRE(r.begin_batch());
    CHECK(CategoryRegistry::builtins().slugs(r.lookup_domain("wiki.corp.example").categories) == "#32");
    r.end_batch();
  }
  {  // the old file plus a new category: accepted, both recorded
    const auto more = registry_of({def(32, "intranet"), def(33, "corp")});
    StoreWriter w(dir.path.string(), *more);
    import_text(w, "more", Format::kCsv, "hr.corp.example,corp\n", {}, *more);
    auto store = CategoryStore::open(dir.path.string(), {.registry = more.get()});
    TxnGuard txn(store->env(), MDB_RDONLY, "test");
    auto rows = read_category_table(txn.get());
    CHECK(std::count_if(rows.begin(), rows.end(), [](const StoredCategory& s) {
            return (s.id == 32 && s.slug == "intranet") || (s.id == 33 && s.slug == "corp" && s.name_ja == "JA corp");
          }) == 2);
  }
}
