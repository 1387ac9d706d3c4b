// config: the feeds section (issue 18) read through config/schema.h — values, defaults, and
// every error located by key path.
#include <doctest/doctest.h>

#include <string>

#include "config/yaml/load.h"

using namespace sekisho;

namespace {

constexpr const char* kBase = R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
upstreams: [127.0.0.1:5399]
category_db: /tmp/store
)";

config::LoadResult load(const std::string& extra) { return config::load_config_text(std::string(kBase) + extra, "t.yaml"); }

std::string errors(const config::LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("feeds: a full rpz-xfr feed and the service settings") {
  auto r = load(R"(feeds:
  - name: threat
    kind: rpz-xfr
    primary: "192.0.2.1:5300"
    zone: rpz.example.
    tsig: {name: feed-key, algorithm: hmac-sha512, secret_file: /etc/sekisho/feed.key}
    categories: [malware, phishing]
    refresh: 300
    timeout_ms: 2000
    limits: {max_entries: 5000, max_transfer_bytes: 1048576}
  - name: second
    primary: 192.0.2.2
    zone: other.rpz
    categories: malware
feed_service:
  notify_listen: ["127.0.0.1:5301"]
  state_directory: /tmp/feeds
)");
  REQUIRE_MESSAGE(r.errors.empty(), errors(r));
  const auto& s = r.settings;
  REQUIRE(s.feeds.size() == 2);
  const auto& f = s.feeds[0];
  CHECK(f.name == "threat");
  CHECK(f.kind == config::FeedKind::rpz_xfr);
  CHECK(f.primary == "192.0.2.1:5300");
  CHECK(f.zone == "rpz.example.");
  CHECK(f.tsig.name == "feed-key");
  CHECK(f.tsig.algorithm == config::TsigAlgorithm::hmac_sha512);
  CHECK(f.tsig.secret_file == "/etc/sekisho/feed.key");
  CHECK(f.categories == std::vector<std::string>{"malware", "phishing"});
  CHECK(f.refresh == 300);
  CHECK(f.timeout_ms == 2000);
  CHECK(f.limits.max_entries == 5000);
  CHECK(f.limits.max_transfer_bytes == 1048576);
  const auto& g = s.feeds[1];
  CHECK(g.tsig.name.empty());
  CHECK(g.refresh == 0);
  CHECK(g.limits.max_entries == 10000000);
  REQUIRE(s.feed_service.notify_listen.size() == 1);
  CHECK(s.feed_service.notify_listen[0].to_string() == "127.0.0.1:5301");
  CHECK(s.feed_service.state_directory == "/tmp/feeds");
}

TEST_CASE("feeds: a full http feed, and the guard's limits with their defaults") {
  auto r = load(R"(feeds:
  - name: lists
    kind: http
    url: "https://lists.example/hosts.txt.gz"
    format: hosts
    ca_file: /etc/sekisho/lists-ca.pem
    categories: [ads]
    allow_public_suffixes: true
    refresh: 600
    retry: 30
    timeout_ms: 5000
    download_timeout_ms: 60000
    limits: {max_bytes: 1048576, max_entries: 1000, max_shrink: 20}
  - name: forced
    kind: http
    url: "http://127.0.0.1:8080/list"
    categories: [ads]
    limits: {allow_shrink: true}
)");
  REQUIRE_MESSAGE(r.errors.empty(), errors(r));
  const auto& f = r.settings.feeds[0];
  CHECK(f.kind == config::FeedKind::http);
  CHECK(f.url == "https://lists.example/hosts.txt.gz");
  CHECK(f.format == config::ListFormat::hosts);
  CHECK(f.ca_file == "/etc/sekisho/lists-ca.pem");
  CHECK(f.allow_public_suffixes);
  CHECK(f.refresh == 600);
  CHECK(f.retry == 30);
  CHECK(f.timeout_ms == 5000);
  CHECK(f.download_timeout_ms == 60000);
  CHECK(f.limits.max_bytes == 1048576);
  CHECK(f.limits.max_entries == 1000);
  CHECK(f.limits.max_shrink == 20);
  CHECK_FALSE(f.limits.allow_shrink);
  const auto& g = r.settings.feeds[1];
  CHECK(g.format == config::ListFormat::domains);
  CHECK_FALSE(g.allow_public_suffixes);
  CHECK(g.limits.max_shrink == 50);  // half, as `sekisho db import`
  CHECK(g.limits.allow_shrink);
  CHECK(g.limits.max_bytes == 256ull << 20);
  CHECK(g.retry == 60);
}

TEST_CASE("feeds: each mistake is an error at its key path") {
  struct Case {
    const char* yaml;
    const char* path;
    const char* says;
  } cases[] = {
      {"feeds:\n  - name: a\n    zone: z.example\n    categories: [malware]\n", "feeds[0].primary", "needs its primary"},
      {"feeds:\n  - name: a\n    primary: nohost\n    zone: z.example\n    categories: [malware]\n", "feeds[0].primary",
       "nohost"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: \"bad zone\"\n    categories: [malware]\n", "feeds[0].zone",
       "not a domain name"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n", "feeds[0].categories", "categories"},
      {"feeds:\n  - name: a\n    kind: ftp\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n",
       "feeds[0].kind", "is not a feed kind"},
      // An http feed: its url is required, an rpz-xfr feed's keys are refused, the format is an import format.
      {"feeds:\n  - name: a\n    kind: http\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n",
       "feeds[0].url", "an http feed needs its url"},
      {"feeds:\n  - name: a\n    kind: http\n    url: \"https://l.example/x\"\n    zone: z.example\n    categories: [malware]\n",
       "feeds[0].zone", "zone is not for http feeds"},
      {"feeds:\n  - name: a\n    kind: http\n    url: \"ftp://l.example/x\"\n    categories: [malware]\n", "feeds[0].url",
       "is not an http:// or https:// URL"},
      {"feeds:\n  - name: a\n    kind: http\n    url: \"https://l.example/x\"\n    format: ut1\n    categories: [malware]\n",
       "feeds[0].format", "is not a list format (domains | hosts | adblock | rpz | csv)"},
      {"feeds:\n  - name: a\n    kind: http\n    url: \"https://l.example/x\"\n    categories: [malware]\n"
       "    limits: {max_shrink: 101}\n",
       "feeds[0].limits.max_shrink", "max_shrink"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n"
       "    url: \"https://l.example/x\"\n",
       "feeds[0].url", "url is not for rpz-xfr feeds"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n    tsig: {name: k}\n",
       "feeds[0].tsig.secret_file", "secret_file"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n"
       "    tsig: {name: k, secret_file: f, algorithm: md5}\n",
       "feeds[0].tsig.algorithm", "is not a TSIG algorithm"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n    colour: red\n",
       "feeds[0].colour", "unknown key"},
      {"feeds:\n  - name: a\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n"
       "  - name: a\n    primary: 192.0.2.2\n    zone: y.example\n    categories: [malware]\n",
       "feeds[1].name", "listed twice"},
      {"feeds:\n  - name: A B\n    primary: 192.0.2.1\n    zone: z.example\n    categories: [malware]\n", "feeds[0].name",
       "lower-case"},
      {"feed_service: {notify: [\"127.0.0.1:53\"]}\n", "feed_service.notify", "unknown key"},
  };
  for (const auto& c : cases) {
    auto r = load(c.yaml);
    const std::string all = errors(r);
    CHECK_MESSAGE(all.find(c.path) != std::string::npos, c.yaml, "\n", all);
    CHECK_MESSAGE(all.find(c.says) != std::string::npos, c.yaml, "\n", all);
  }
}

TEST_CASE("feeds need the category store") {
  auto r = config::load_config_text(R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
upstreams: [127.0.0.1:5399]
feeds:
  - name: a
    primary: 192.0.2.1
    zone: z.example
    categories: [malware]
)", "t.yaml");
  CHECK(errors(r).find("set category_db") != std::string::npos);
}
