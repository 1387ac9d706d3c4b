// intercept/: the block page (language choice, both languages rendered from the embedded
// templates, escaping, per-tenant overrides), the decisions behind it (same verdict and EDE
// text as the DNS path, URL entries for deep inspection, SNI admission), and the incident ID
// agreeing with the query-log line the DNS side writes for the same query.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/text.h"
#include "config/yaml/load.h"
#include "intercept/blockpage.h"
#include "intercept/forward.h"
#include "intercept/service.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/import/importer.h"
#include "policy/policy.h"
#include "policy/querylog/format.h"
#include "policy/querylog/record.h"
#include "policy/store/category_store.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using namespace sekisho::intercept;
namespace fs = std::filesystem;

namespace {

using sekisho::test::TempDir;

policy::CategorySet cats(std::initializer_list<const char*> slugs) {
  policy::CategorySet s;
  for (auto* slug : slugs) s.add(policy::CategoryRegistry::builtins().by_slug(slug)->id);
  return s;
}

// A store: casino.example (gambling), forum.example (forums, read_only for acme),
// videos.example has URL entries (/adult → adult, /news → news), shop.example nothing.
void build_store(const fs::path& dir) {
  policy::StoreWriter w(dir.string());
  policy::EntrySet set;
  policy::ImportReport report;
  policy::ImportOptions opt;
  policy::ImportSink sink(set, report, opt);
  REQUIRE(sink.add_name("casino.example", policy::kFlagSubtree, cats({"gambling"}), 1));
  REQUIRE(sink.add_name("forum.example", policy::kFlagSubtree, cats({"forums"}), 4));
  REQUIRE(sink.add_url("videos.example/adult", cats({"adult"}), 2));
  REQUIRE(sink.add_url("videos.example/news", cats({"news"}), 3));
  set.finalize();
  policy::SourceInfo info;
  info.name = "t";
  w.replace_source(info, set);
}

constexpr const char* kConfig = R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
upstreams: ["127.0.0.1:5399"]
tenants:
  - id: acme
    name: "ACME <株式会社>"
    contact: "IT desk & helpdesk, ext. 1234"
    networks: ["127.0.0.0/24"]
    policy: office
  - id: anon
    networks: ["10.9.0.0/16"]
    policy: private
policies:
  office:
    block: [gambling, adult]
    read_only: [forums]
    deny: [badsite.example]
    deep_inspection: true
  private:
    block: [gambling]
    log: anonymized
)";

std::shared_ptr<const policy::PolicySnapshot> compile(const char* yaml) {
  auto loaded = config::load_config_text(yaml, "test.yaml");
  for (const auto& e : loaded.errors) FAIL(e.to_string());
  std::vector<config::ConfigError> errors;
  auto snap = policy::compile_policies(loaded.settings, 0, errors);
  for (const auto& e : errors) FAIL(e.to_string());
  return snap;
}

net::SocketAddress addr(const char* text) {
  std::string why;
  auto a = net::parse_socket_address(text, 40000, why);
  REQUIRE(a);
  return *a;
}

net::http::Request request(const char* peer, const char* host, const char* path = "/",
                           const char* accept_language = "") {
  net::http::Request r;
  r.method = "GET";
  std::string p = path;
  size_t q = p.find('?');
  r.path = p.substr(0, q);
  if (q != std::string::npos) r.query = p.substr(q + 1);
  r.headers.push_back({"host", host});
  if (*accept_language) r.headers.push_back({"accept-language", accept_language});
  r.peer = addr(peer);
  return r;
}

struct Fixture {
  TempDir tmp;
  std::unique_ptr<policy::CategoryStore> store;
  std::unique_ptr<policy::CategoryReader> reader;
  Service service;
  std::shared_ptr<const policy::PolicySnapshot> snap;
  Fixture() {
    build_store(tmp.path / "db");
    store = policy::CategoryStore::open((tmp.path / "db").string());
    reader = std::make_unique<policy::CategoryReader>(*store);
    snap = compile(kConfig);
    auto state = std::make_shared<State>();
    state->policies = snap;
    std::vector<std::string> warnings;
    state->templates = Templates::load("", {}, warnings);
    state->inspection = {true, false};
    service.set_state(state);
  }
};

std::string between(const std::string& s, const std::string& open, const std::string& close) {
  size_t a = s.find(open);
  if (a == std::string::npos) return {};
  a += open.size();
  size_t b = s.find(close, a);
  return b == std::string::npos ? std::string() : s.substr(a, b - a);
}

constexpr int64_t kNow = 1'795'000'000'000'000;  // µs

}  // namespace

TEST_CASE("blockpage: language from ?lang, else Accept-Language q-values, else English") {
  CHECK(pick_language("", "") == Lang::en);
  CHECK(pick_language("ja", "") == Lang::ja);
  CHECK(pick_language("ja-JP,ja;q=0.9,en-US;q=0.8", "") == Lang::ja);
  CHECK(pick_language("en-US,en;q=0.9,ja;q=0.8", "") == Lang::en);
  CHECK(pick_language("fr-CH, fr;q=0.9, ja;q=0.5, en;q=0.4", "") == Lang::ja);
  CHECK(pick_language("en;q=0.2, JA-jp;q=0.7", "") == Lang::ja);
  CHECK(pick_language("ja;q=0, en;q=0.1", "") == Lang::en);
  CHECK(pick_language("jam, enx", "") == Lang::en);  // not ja, not en: default
  CHECK(pick_language("ja;q=garbage", "") == Lang::en);
  CHECK(pick_language("ja", "en") == Lang::en);
  CHECK(pick_language("en", "ja") == Lang::ja);
  CHECK(pick_language("en", "de") == Lang::en);
}

TEST_CASE("blockpage: escaping and unknown variables") {
  CHECK(base::escape_markup(R"(<a href="x">'&'</a>)") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  BlockFacts f;
  f.name = "<script>x</script>";
  CHECK(render("[{{name}}][{{nope}}][{{ name }}]{{", f, Lang::en) ==
        "[&lt;script&gt;x&lt;/script&gt;][][&lt;script&gt;x&lt;/script&gt;]{{");
}

TEST_CASE("blockpage: category block in Japanese and English, same reason text as the DNS answer") {
  Fixture fx;
  auto ja = fx.service.handle(request("127.0.0.5:5555", "www.casino.example", "/", "ja,en;q=0.5"), fx.reader.get(),
                              kNow);
  CHECK(ja.status == 403);
  const std::string& body = ja.body;
  CHECK(between(body, "<html lang=\"", "\"") == "ja");
  CHECK(between(body, "<dd id=\"category\">", "</dd>") == "ギャンブル");
  CHECK(between(body, "<strong id=\"blocked-name\">", "</strong>") == "www.casino.example");
  CHECK(body.find("ACME &lt;株式会社&gt;") != std::string::npos);  // tenant name, escaped
  CHECK(body.find("IT desk &amp; helpdesk, ext. 1234") != std::string::npos);
  CHECK(between(body, "<dd id=\"inspection\">", "</dd>").rfind("有効", 0) == 0);
  CHECK(between(body, "href=\"", "\"") == "?lang=en");
  // The EDE text sekishod sends for the same name and policy.
  const auto& snap = *fx.snap;
  const std::string wire = policy::to_wire("www.casino.example");
  REQUIRE(fx.reader->begin_batch());
  policy::Verdict v = policy::decide_query(snap.policies[snap.tenants[0].policy],
                                           {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()},
                                           fx.reader.get(), kNow / 1000000);
  fx.reader->end_batch();
  char ede[200];
  const std::string ede_text(ede, policy::describe_verdict(v, "acme", ede, sizeof ede));
  CHECK(ede_text == "category=gambling tenant=acme");
  CHECK(between(body, "<code id=\"detail\">", "</code>") == ede_text);

  auto en = fx.service.handle(request("127.0.0.5:5555", "WWW.Casino.Example:80", "/x?lang=en", "ja"), fx.reader.get(),
                              kNow);
  CHECK(en.status == 403);
  CHECK(between(en.body, "<html lang=\"", "\"") == "en");
  CHECK(between(en.body, "<dd id=\"category\">", "</dd>") == "Gambling");
  CHECK(between(en.body, "<dd id=\"rule\">", "</dd>").find("Gambling") != std::string::npos);
  CHECK(between(en.body, "<dd id=\"time\">", "</dd>") == "2026-11-18 11:06:40 UTC");
  CHECK(en.body.find("www.casino.example") != std::string::npos);
  CHECK(between(en.body, "href=\"", "\"") == "?lang=ja");
}

TEST_CASE("blockpage: deny list, not blocked, unknown client, bad host") {
  Fixture fx;
  auto deny = fx.service.handle(request("127.0.0.5:1", "a.badsite.example", "/", "en"), fx.reader.get(), kNow);
  CHECK(deny.status == 403);
  CHECK(between(deny.body, "<dd id=\"rule\">", "</dd>").find("badsite.example") != std::string::npos);
  CHECK(between(deny.body, "<code id=\"detail\">", "</code>") == "list=deny rule=badsite.example tenant=acme");
  CHECK(fx.service.handle(request("127.0.0.5:1", "shop.example"), fx.reader.get(), kNow).status == 404);
  CHECK(fx.service.handle(request("192.0.2.1:1", "www.casino.example"), fx.reader.get(), kNow).status == 403);
  CHECK(fx.service.handle(request("192.0.2.1:1", "www.casino.example"), fx.reader.get(), kNow).body.find("not in any") !=
        std::string::npos);
  CHECK(fx.service.handle(request("127.0.0.5:1", "bad host"), fx.reader.get(), kNow).status == 400);
  CHECK(fx.service.handle(request("127.0.0.5:1", "[::1]:80"), fx.reader.get(), kNow).status == 400);
  // Over TLS the Host must be the name the certificate was minted for.
  auto fronted = request("127.0.0.5:1", "videos.example", "/news/x");
  fronted.tls = true;
  fronted.server_name = "www.casino.example";
  CHECK(fx.service.handle(fronted, fx.reader.get(), kNow).status == 421);
  fronted.headers[0].value = "WWW.casino.example:443";
  CHECK(fx.service.handle(fronted, fx.reader.get(), kNow).status == 403);
}

TEST_CASE("deep inspection: the DNS verdict is inspect; URLs are judged by their entries") {
  Fixture fx;
  const auto& snap = *fx.snap;
  const std::string wire = policy::to_wire("videos.example");
  REQUIRE(fx.reader->begin_batch());
  const auto& office = snap.policies[snap.tenants[0].policy];
  policy::Verdict v = policy::decide_query(office, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()},
                                           fx.reader.get(), 0);
  CHECK(v.inspected());
  CHECK_FALSE(v.blocked());
  char text[200];
  CHECK(std::string(text, policy::describe_verdict(v, "acme", text, sizeof text)) == "inspect=url tenant=acme");
  // Without deep_inspection (tenant anon's policy) the same name just resolves.
  const auto& priv = snap.policies[snap.tenants[1].policy];
  CHECK(policy::decide_query(priv, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()}, fx.reader.get(), 0)
            .kind == policy::VerdictKind::resolve);
  fx.reader->end_batch();

  Decision d;
  auto blocked = fx.service.handle(request("127.0.0.5:1", "videos.example", "/adult/clip1?x=1", "en"), fx.reader.get(),
                                   kNow, &d);
  CHECK(d.kind == Decision::blocked);
  CHECK(d.url_rule);
  CHECK(blocked.status == 403);
  CHECK(between(blocked.body, "<dd id=\"category\">", "</dd>") == "Adult content");
  CHECK(between(blocked.body, "<code id=\"detail\">", "</code>") ==
        "url=example.videos/adult category=adult tenant=acme");
  fx.service.handle(request("127.0.0.5:1", "videos.example", "/news/today"), fx.reader.get(), kNow, &d);
  CHECK(d.kind == Decision::inspect_allowed);  // news is not blocked: forward
  fx.service.handle(request("127.0.0.5:1", "videos.example", "/adultery"), fx.reader.get(), kNow, &d);
  CHECK(d.kind == Decision::inspect_allowed);  // path prefixes end at '/'
}

namespace {
// The id of the admitted tenant (by its index in the policies in use); "" when refused.
std::string admitted_id(Fixture& fx, const char* peer, std::string_view sni) {
  const auto a = fx.service.admit_sni(addr(peer), sni, fx.reader.get(), kNow);
  if (!a) return "";
  const auto& tenants = fx.service.state()->policies->tenants;
  REQUIRE(*a < tenants.size());
  return tenants[*a].id;
}
}  // namespace

TEST_CASE("SNI admission: only names blocked or deep-checked for the client's tenant") {
  Fixture fx;
  CHECK(admitted_id(fx, "127.0.0.5:1", "www.casino.example") == "acme");
  CHECK(admitted_id(fx, "127.0.0.5:1", "videos.example") == "acme");
  CHECK(admitted_id(fx, "127.0.0.5:1", "badsite.example") == "acme");
  CHECK_FALSE(fx.service.admit_sni(addr("127.0.0.5:1"), "shop.example", fx.reader.get(), kNow));
  CHECK_FALSE(fx.service.admit_sni(addr("127.0.0.5:1"), "www.google.com", fx.reader.get(), kNow));
  CHECK_FALSE(fx.service.admit_sni(addr("192.0.2.1:1"), "www.casino.example", fx.reader.get(), kNow));
  CHECK_FALSE(fx.service.admit_sni(addr("127.0.0.5:1"), "", fx.reader.get(), kNow));
  CHECK_FALSE(fx.service.admit_sni(addr("127.0.0.5:1"), "casino.example:443", fx.reader.get(), kNow));
  // Tenant anon does not deep-inspect: videos.example gets no certificate there.
  CHECK_FALSE(fx.service.admit_sni(addr("[::ffff:10.9.1.1]:1"), "videos.example", fx.reader.get(), kNow));
  CHECK(admitted_id(fx, "[::ffff:10.9.1.1]:1", "casino.example") == "anon");
}

TEST_CASE("incident ID: the block page and the query-log line of the same query agree") {
  Fixture fx;
  struct Case {
    const char* peer;
    const char* name;
    const char* tenant;
    querylog::LogMode mode;
  };
  for (const Case& c : {Case{"127.0.0.5:1", "www.casino.example", "acme", querylog::LogMode::full},
                        Case{"[::ffff:10.9.1.77]:1", "casino.example", "anon", querylog::LogMode::anonymized}}) {
    CAPTURE(c.name);
    // The DNS side: the record sekishod's pipeline writes for the blocked query (client as the
    // DNS socket saw it: plain IPv4), formatted by the query-log writer.
    querylog::QueryRecord r;
    r.time_us = kNow - 20'000'000;  // the query came 20 s before the page, same minute
    r.action = querylog::QueryAction::blocked;
    r.log_mode = c.mode;
    in_addr a{};
    inet_pton(AF_INET, std::string(c.peer).find("10.9") != std::string::npos ? "10.9.1.77" : "127.0.0.5", &a);
    uint8_t v4[4];
    std::memcpy(v4, &a, 4);
    querylog::set_client_v4(r, v4);
    const std::string wire = policy::to_wire(c.name);
    querylog::set_qname(r, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
    std::string line;
    querylog::append_json_line(line, r, c.tenant);
    const std::string logged = between(line, "\"incident\":\"", "\"");
    REQUIRE(logged.size() == 11);

    auto page = fx.service.handle(request(c.peer, c.name, "/", "en"), fx.reader.get(), kNow);
    REQUIRE(page.status == 403);
    CHECK(between(page.body, "<code id=\"incident\">", "</code>") == logged);
    // Another client, name or minute gives another ID.
    CHECK(incident_for(c.tenant, c.mode == querylog::LogMode::anonymized ? config::LogMode::anonymized
                                                                          : config::LogMode::full,
                       addr("127.0.0.6:1"), c.name, kNow) != logged);
    CHECK(incident_for(c.tenant, config::LogMode::full, addr(c.peer), c.name, kNow + 60'000'000) != logged);
  }
  // Anonymized: two clients of the same /24 share the ID, as they share the logged address.
  CHECK(incident_for("anon", config::LogMode::anonymized, addr("10.9.1.77:1"), "x.example", kNow) ==
        incident_for("anon", config::LogMode::anonymized, addr("10.9.1.78:1"), "x.example", kNow));
}

TEST_CASE("blockpage: per-tenant template override, others keep the built-in page") {
  TempDir tmp;
  std::ofstream(tmp.path / "acme.ja.html") << "<p>{{tenant_name}}: {{name}} / {{category}} / {{incident}}</p>";
  fs::create_directories(tmp.path / "beta.en.html");  // a directory: unreadable, reported
  std::vector<std::string> warnings;
  auto t = Templates::load(tmp.path.string(), {"acme", "beta", "gamma"}, warnings);
  CHECK(t->overrides() == 1);
  CHECK(warnings.size() == 1);
  CHECK(t->get("acme", Lang::ja).rfind("<p>{{tenant_name}}", 0) == 0);
  CHECK(t->get("acme", Lang::en).find("<!DOCTYPE html>") != std::string::npos);
  CHECK(t->get("gamma", Lang::ja).find("カテゴリ") != std::string::npos);
  BlockFacts f;
  f.name = "a.example";
  f.tenant_name = "A&B";
  f.category = policy::CategoryRegistry::builtins().by_slug("gambling")->id;
  f.incident = "12345-ABCDE";
  CHECK(render(t->get("acme", Lang::ja), f, Lang::ja) == "<p>A&amp;B: a.example / ギャンブル / 12345-ABCDE</p>");
}

TEST_CASE("read only: GET and HEAD are forwarded; posting, uploads and upgrades get the block page") {
  Fixture fx;
  auto with = [](net::http::Request r, const char* method, std::initializer_list<std::pair<const char*, const char*>> h) {
    r.method = method;
    for (const auto& [name, value] : h) r.headers.push_back({name, value});
    return r;
  };
  const auto get = request("127.0.0.5:1", "forum.example", "/thread/1", "en");
  Decision d;
  CHECK(fx.service.handle(get, fx.reader.get(), kNow, &d).body.empty());
  CHECK(d.kind == Decision::inspect_allowed);
  CHECK(d.read_only);
  CHECK_FALSE(d.posting_refused);
  fx.service.handle(with(get, "HEAD", {}), fx.reader.get(), kNow, &d);
  CHECK(d.kind == Decision::inspect_allowed);
  fx.service.handle(with(get, "GET", {{"content-length", "0"}}), fx.reader.get(), kNow, &d);
  CHECK(d.kind == Decision::inspect_allowed);
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"}) {
    INFO(method);
    auto res = fx.service.handle(with(get, method, {}), fx.reader.get(), kNow, &d);
    CHECK(res.status == 403);
    CHECK(d.kind == Decision::blocked);
    CHECK(d.posting_refused);
    CHECK(between(res.body, "<code id=\"detail\">", "</code>") ==
          "posting is restricted inspect=read_only category=forums tenant=acme");
    CHECK(between(res.body, "<dd id=\"rule\">", "</dd>").rfind("Posting is restricted", 0) == 0);
  }
  CHECK(fx.service.handle(with(get, "GET", {{"content-length", "5"}}), fx.reader.get(), kNow).status == 403);
  CHECK(fx.service.handle(with(get, "GET", {{"transfer-encoding", "chunked"}}), fx.reader.get(), kNow).status == 403);
  CHECK(fx.service.handle(with(get, "GET", {{"connection", "upgrade"}, {"upgrade", "websocket"}}), fx.reader.get(), kNow)
            .status == 403);
  auto ja = fx.service.handle(with(request("127.0.0.5:1", "forum.example", "/post", "ja"), "POST", {}), fx.reader.get(), kNow);
  CHECK(between(ja.body, "<dd id=\"rule\">", "</dd>").rfind("書き込み規制", 0) == 0);
  // The SNI is admitted (a certificate is minted for reading); a read-only host of another
  // tenant's policy is not.
  CHECK(fx.service.admit_sni(addr("127.0.0.5:1"), "forum.example", fx.reader.get(), kNow).has_value());
  CHECK_FALSE(fx.service.admit_sni(addr("10.9.0.1:1"), "forum.example", fx.reader.get(), kNow).has_value());
}
