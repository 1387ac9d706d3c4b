// The two-level taxonomy (groups of categories, 256 ids): every UT1 directory has a category,
// policies block groups, ids past 63 go through the store, decide and the query log, and stores
// written in the first value layout (64-bit sets) keep every entry.
#include <doctest/doctest.h>

#include <lmdb.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "policy/configuration.h"
#include "policy/decide.h"
#include "policy/import/csv_export.h"
#include "policy/import/importer.h"
#include "policy/querylog/format.h"
#include "policy/querylog/make_record.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/name_index.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

const CategoryInfo& builtin(const char* slug) {
  const CategoryInfo* c = CategoryRegistry::builtins().by_slug(slug);
  REQUIRE_MESSAGE(c != nullptr, slug);
  return *c;
}

// A store with `names` (name → categories), imported through the csv importer as one source.
void import_csv(StoreWriter& w, const std::string& source, const std::string& text, const CategoryRegistry& registry) {
  ImportOptions opt;
  opt.format = Format::kCsv;
  opt.registry = &registry;
  EntrySet set;
  ImportReport report;
  ImportSink sink(set, report, opt);
  sink.set_file(source);
  parse_text(Format::kCsv, text, sink);
  set.finalize();
  SourceInfo info;
  info.name = source;
  info.format = "csv";
  w.replace_source(info, set, &registry);
}

std::string config_text(const fs::path& categories, const std::string& policy) {
  return "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n"
         "categories_file: " + categories.string() + "\n"
         "tenants:\n  - {id: acme, networks: [\"10.0.0.0/8\"], policy: office}\n"
         "policies:\n  office: " + policy + "\n";
}

Verdict decide(const CompiledPolicy& p, CategoryReader& r, const char* name) {
  const std::string wire = to_wire(name);
  return decide_query(p, std::span(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()), &r, 0);
}

// Every name → categories of a store, read through the control plane's decoder.
std::map<std::string, std::string> all_entries(const std::string& path) {
  std::map<std::string, std::string> out;
  auto store = CategoryStore::open(path);
  TxnGuard txn(store->env(), MDB_RDONLY, path);
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn.get(), store->domains_dbi(), &cur), "cursor");
  MDB_val k, v;
  EntryHeader h;
  std::vector<Contribution> contribs;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    REQUIRE(decode_entry(from_val(v), h, contribs));
    std::string text;
    for (const auto& c : contribs) text += std::to_string(c.source_id) + ":" + std::to_string(c.flags) + ":" +
                                           CategoryRegistry::builtins().slugs(c.cats) + " ";
    out[std::string(from_val(k))] = text;
  }
  mdb_cursor_close(cur);
  return out;
}

// Rewrites every domains value of the store at `db` in the first layout (64-bit sets), as the
// writer did before ids went past 63; `drop_index`: and removes the lookup index.
void to_first_layout(const std::string& db, bool drop_index) {
  MDB_env* env;
  mdb_check(mdb_env_create(&env), "env");
  mdb_env_set_maxdbs(env, schema::kMaxDbs);
  mdb_check(mdb_env_open(env, db.c_str(), 0, 0644), "open");
  MDB_txn* txn;
  mdb_check(mdb_txn_begin(env, nullptr, 0, &txn), "txn");
  MDB_dbi domains, index;
  mdb_check(mdb_dbi_open(txn, schema::kDbDomains, 0, &domains), "domains");
  mdb_check(mdb_dbi_open(txn, schema::kDbIndex, 0, &index), "index");
  std::vector<std::pair<std::string, std::string>> rewritten;
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn, domains, &cur), "cursor");
  MDB_val k, v;
  EntryHeader h;
  std::vector<Contribution> contribs;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    REQUIRE(decode_entry(from_val(v), h, contribs));
    CHECK_FALSE(is_legacy_entry_size(v.mv_size));
    rewritten.emplace_back(std::string(from_val(k)), encode_legacy_entry(contribs));
  }
  mdb_cursor_close(cur);
  for (auto& [key, value] : rewritten) {
    MDB_val kk = to_val(key), vv = to_val(value);
    mdb_check(mdb_put(txn, domains, &kk, &vv, 0), "put");
  }
  if (drop_index) mdb_check(mdb_drop(txn, index, 0), "drop index");
  mdb_check(mdb_txn_commit(txn), "commit");
  mdb_env_close(env);
}

}  // namespace

TEST_CASE("taxonomy: every UT1 directory maps to a built-in category of a group, English and Japanese named") {
  // The directories of the full collection (global_usage NAME records and the mirror's list) and
  // the alias names older trees carry.
  const char* dirs[] = {
      "adult", "agressif", "arjel", "associations_religieuses", "astrology", "audio-video", "bank", "bitcoin",
      "blog", "celebrity", "chat", "child", "cleaning", "cooking", "cryptojacking", "dangerous_material", "dating",
      "ddos", "dialer", "doh", "download", "drogue", "dynamic-dns", "educational_games", "examen_pix",
      "exceptions_liste_bu", "fakenews", "filehosting", "financial", "forums", "gambling", "games", "hacking",
      "jobsearch", "lingerie", "liste_blanche", "liste_bu", "malware", "manga", "marketingware", "mixed_adult",
      "mobile-phone", "phishing", "press", "publicite", "radio", "reaffected", "redirector", "remote-control",
      "residential_proxies", "sect", "sexual_education", "shopping", "shortener", "social_networks", "special",
      "sports", "stalkerware", "strict_redirector", "strong_redirector", "translation", "tricheur", "tricheur_pix",
      "update", "vpn", "warez", "webhosting", "webmail", "ads", "aggressive", "drugs", "porn", "proxy", "mail"};
  const CategoryRegistry& r = CategoryRegistry::builtins();
  for (const char* dir : dirs) {
    CAPTURE(dir);
    const auto slug = r.ut1_directory_slug(dir);
    REQUIRE(slug.has_value());
    const CategoryInfo* c = r.by_slug(*slug);
    REQUIRE(c != nullptr);
    CHECK(!c->name_en.empty());
    CHECK(!c->name_ja.empty());
    CHECK(c->group < config::category_groups().size());
  }
  // The mapping names only categories the registry has.
  for (const auto& entry : CategoryRegistry::ut1_directories())  // no binding: clang 14 cannot capture one
    CHECK_MESSAGE(r.by_slug(entry.second), entry.first);
  // Kinds as the EDE needs them: threats and evasion are security, content is content.
  CHECK(builtin("dynamic_dns").kind == CategoryKind::kSecurity);
  CHECK(builtin("crypto_mining").kind == CategoryKind::kContent);
  CHECK(r.group_of(builtin("dynamic_dns")).slug == "evasion");
  CHECK(r.group_of(builtin("crypto_mining")).slug == "shopping");
  // Every group but the allow list's holds categories; groups and categories are named in both languages.
  for (const auto& g : config::category_groups()) {
    CAPTURE(g.slug);
    CHECK(!r.members(g.id).empty());
    CHECK(!g.name_en.empty());
    CHECK(!g.name_ja.empty());
  }
  CHECK(r.all().size() >= 60);
}

TEST_CASE("taxonomy: a 256-bit set holds every id") {
  CategorySet s;
  for (unsigned id : {0u, 63u, 64u, 127u, 128u, 200u, 255u}) s.add(static_cast<uint8_t>(id));
  CHECK(s.size() == 7);
  CHECK(s.first() == 0);
  std::vector<unsigned> seen;
  s.for_each([&](uint8_t id) { seen.push_back(id); });
  CHECK(seen == std::vector<unsigned>{0, 63, 64, 127, 128, 200, 255});
  CHECK(s.intersects(CategorySet().with(200)));
  CHECK_FALSE(s.intersects(CategorySet().with(201)));
  CHECK((s & CategorySet().with(255).with(1)) == CategorySet().with(255));
  CHECK_FALSE(s.fits_low_word());
  CHECK(CategorySet(uint64_t{1} << 63).fits_low_word());
}

TEST_CASE("taxonomy: a policy blocking a group blocks its categories (a file's too) and nothing else") {
  TempDir dir;
  write(dir.path / "categories.yaml",
        "categories:\n  - {id: 200, slug: corp_tunnels, group: evasion, en: Tunnels, ja: トンネル}\n");
  write(dir.path / "sekishod.yaml", config_text(dir.path / "categories.yaml", "{block_groups: [evasion], block: [gambling]}"));
  const Configuration conf = load_configuration((dir.path / "sekishod.yaml").string());
  REQUIRE(conf.ok());
  const CompiledPolicy& p = conf.policies->policies[0];
  const CategoryRegistry& reg = *conf.policies->categories;
  for (const char* slug : {"vpn", "doh", "dynamic_dns", "remote_control", "residential_proxies", "corp_tunnels", "gambling"})
    CHECK_MESSAGE(p.block.contains(reg.by_slug(slug)->id), slug);
  for (const char* slug : {"malware", "adult", "crypto_mining"}) CHECK_MESSAGE(!p.block.contains(reg.by_slug(slug)->id), slug);

  const std::string db = (dir.path / "db").string();
  {
    StoreWriter w(db, reg);
    import_csv(w, "lists",
               "ddns.example,dynamic_dns\nmine.example,crypto_mining\nt.example,corp_tunnels\n"
               "evil.example,malware\n",
               reg);
  }
  auto store = CategoryStore::open(db, {.registry = &reg});
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  const Verdict ddns = decide(p, r, "host.ddns.example");
  CHECK(ddns.kind == VerdictKind::block);
  CHECK(ddns.category == reg.by_slug("dynamic_dns")->id);
  CHECK(ddns.security());  // evasion is a security group: EDE 15
  CHECK(decide(p, r, "t.example").category == 200);
  CHECK(decide(p, r, "mine.example").kind != VerdictKind::block);
  CHECK(decide(p, r, "evil.example").kind != VerdictKind::block);

  // An unknown group is refused with the known ones, at its line.
  write(dir.path / "bad.yaml", config_text(dir.path / "categories.yaml", "{block_groups: [evasion, nonsense]}"));
  const Configuration bad = load_configuration((dir.path / "bad.yaml").string());
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].path == "policies.office.block_groups");
  CHECK(bad.errors[0].message.find("unknown category group 'nonsense' (known: security evasion") == 0);
}

TEST_CASE("taxonomy: id 200 goes through the store, decide and the query log") {
  TempDir dir;
  write(dir.path / "categories.csv", "200,kiosk_games,entertainment,Kiosk games,キオスクゲーム\n");
  write(dir.path / "sekishod.yaml", config_text(dir.path / "categories.csv", "{block: [kiosk_games]}"));
  const Configuration conf = load_configuration((dir.path / "sekishod.yaml").string());
  REQUIRE(conf.ok());
  const CategoryRegistry& reg = *conf.policies->categories;
  REQUIRE(reg.by_id(200) != nullptr);
  const std::string db = (dir.path / "db").string();
  {
    StoreWriter w(db, reg);
    import_csv(w, "kiosk", "play.example,kiosk_games;games\nother.example,games\n", reg);
  }
  auto store = CategoryStore::open(db, {.registry = &reg});
  for (auto strategy : {LookupStrategy::kPerLabel, LookupStrategy::kSeekRange}) {
    CategoryReader r(*store, strategy);
    REQUIRE(r.begin_batch());
    const Match m = r.lookup_domain("www.play.example");
    CHECK(m.found);
    CHECK(m.categories == CategorySet().with(200).with(builtin("games").id));
    const Verdict v = decide(conf.policies->policies[0], r, "www.play.example");
    REQUIRE(v.kind == VerdictKind::block);
    CHECK(v.category == 200);
    CHECK_FALSE(v.security());
    CHECK(decide(conf.policies->policies[0], r, "other.example").kind != VerdictKind::block);

    // The query log record carries id 200 and the line names it.
    const std::string wire = to_wire("www.play.example");
    querylog::QueryFacts f;
    f.qname = std::span(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    f.action = querylog::QueryAction::blocked;
    f.verdict = &v;
    const querylog::QueryRecord rec = querylog::make_record(f);
    CHECK(rec.categories.contains(200));
    std::string line;
    querylog::append_json_line(line, rec, "acme", reg);
    CHECK(line.find("\"categories\":[\"games\",\"kiosk_games\"]") != std::string::npos);
  }
  // The index holds wide headers now (version 10), and verify-style decoding agrees.
  CHECK(all_entries(db).size() == 2);
}

TEST_CASE("taxonomy: values are compact id lists, and the first layout is told apart by its length") {
  const Contribution one{3, kFlagSubtree, CategorySet().with(7)};
  std::string v;
  encode_entry({one}, v);
  CHECK(v.size() == 7);  // flags, count, source, flags, n, one id (29 bytes in the first layout)
  EntryHeader h;
  std::vector<Contribution> back;
  REQUIRE(decode_entry(v, h, back));
  CHECK(back == std::vector<Contribution>{one});
  // Lengths of the first layout (18 + 11k) are never written: such a value is padded.
  for (unsigned n = 1; n < 60; ++n) {
    CategorySet s;
    for (unsigned id = 0; id < n; ++id) s.add(static_cast<uint8_t>(id * 4));
    const Contribution c{1, kFlagExact, s};
    encode_entry({c}, v);
    CAPTURE(n);
    CHECK_FALSE(is_legacy_entry_size(v.size()));
    REQUIRE(decode_entry(v, h, back));
    CHECK(back == std::vector<Contribution>{c});
    CHECK(h.all == s);
    CHECK(h.subtree.empty());
    REQUIRE(decode_header(v.data(), v.size(), h));
    CHECK(h.all == s);
    unsigned char single[kMaxSingleEntrySize];
    CHECK(std::string(reinterpret_cast<char*>(single), encode_single(c, single)) == v);
  }
  // The first layout still decodes.
  const std::vector<Contribution> legacy{{1, kFlagSubtree, CategorySet(uint64_t{0x8000000000000012})},
                                         {2, kFlagExact | kFlagUrl, CategorySet(uint64_t{4})}};
  const std::string old = encode_legacy_entry(legacy);
  CHECK(old.size() == 18 + 2 * 11);
  REQUIRE(decode_entry(old, h, back));
  CHECK(back == legacy);
  REQUIRE(decode_header(old.data(), old.size(), h));
  CHECK(h.all == CategorySet(uint64_t{0x8000000000000016}));
  CHECK(h.subtree == CategorySet(uint64_t{0x8000000000000012}));
  // Malformed values are refused, not read past their end.
  CHECK_FALSE(decode_header("\x01\x02\x00\x00\x01", 5, h));
  CHECK_FALSE(decode_header("", 0, h));
}

TEST_CASE("taxonomy: a store written in the first value layout keeps every entry, read as it is and written over") {
  TempDir dir;
  const std::string db = (dir.path / "db").string();
  const CategoryRegistry& reg = CategoryRegistry::builtins();
  {
    StoreWriter w(db, reg);
    import_csv(w, "a", "a.example,ads\nb.example,malware;phishing\nexact.example,gambling,exact\nshared.example,news\n", reg);
    import_csv(w, "b", "shared.example,adult\nc.example,games\n", reg);
  }
  const auto before = all_entries(db);
  REQUIRE(before.size() == 5);
  // Every value as the older writer wrote it (64-bit sets), and no lookup index, as a store
  // written before the index existed; then a version-9 index over them.
  to_first_layout(db, true);
  CHECK(all_entries(db) == before);
  auto check_lookups = [&](std::string when) {
    CAPTURE(when);
    auto store = CategoryStore::open(db);
    for (auto strategy : {LookupStrategy::kPerLabel, LookupStrategy::kSeekRange}) {
      CategoryReader r(*store, strategy);
      REQUIRE(r.begin_batch());
      INFO(reg.slugs(r.lookup_domain("b.example").categories), " ", reg.slugs(r.lookup_domain("shared.example").categories));
      CHECK(r.lookup_domain("x.a.example").categories == CategorySet().with(builtin("ads").id));
      CHECK(r.lookup_domain("b.example").categories ==
            CategorySet().with(builtin("malware").id).with(builtin("phishing").id));
      CHECK(r.lookup_domain("exact.example").categories == CategorySet().with(builtin("gambling").id));
      CHECK_FALSE(r.lookup_domain("sub.exact.example").found);
      CHECK(r.lookup_domain("shared.example").categories ==
            CategorySet().with(builtin("news").id).with(builtin("adult").id));
    }
  };
  check_lookups("old values, no index");
  // A writer adds to it: its values are the new layout beside the old ones, and the index it
  // builds (all ids below 64) is the version-9 table older readers know.
  {
    StoreWriter w(db, reg);
    import_csv(w, "c", "d.example,drugs\n", reg);
  }
  check_lookups("mixed values, index built from them");
  auto after = all_entries(db);
  CHECK(after.size() == 6);
  after.erase("example.d");
  CHECK(after == before);
  // A store where one entry carries an id past 63 gets the wide index; everything else unchanged.
  {
    StoreWriter w(db, reg);
    import_csv(w, "c", "d.example,drugs;dynamic_dns\n", reg);
    w.compact();
  }
  check_lookups("wide index");
  auto store = CategoryStore::open(db);
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_domain("d.example").categories == CategorySet().with(builtin("drugs").id).with(builtin("dynamic_dns").id));
}

TEST_CASE("taxonomy: compact rewrites first-layout values in the current layout, lookups unchanged") {
  TempDir dir;
  const std::string db = (dir.path / "db").string();
  const CategoryRegistry& reg = CategoryRegistry::builtins();
  {
    StoreWriter w(db, reg);
    import_csv(w, "a", "a.example,ads\nb.example,malware;phishing\n", reg);
  }
  const auto before = all_entries(db);
  to_first_layout(db, false);
  CHECK(all_entries(db) == before);
  StoreWriter w(db, reg);
  CHECK(w.compact().relaid == 2);
  CHECK(w.compact().relaid == 0);
  CHECK(all_entries(db) == before);
  auto store = CategoryStore::open(db);
  TxnGuard txn(store->env(), MDB_RDONLY, db);
  MDB_val k = to_val("example.b"), v;
  REQUIRE(mdb_get(txn.get(), store->domains_dbi(), &k, &v) == MDB_SUCCESS);
  CHECK(v.mv_size == 8);  // flags, count, source, flags, n, two ids
}
