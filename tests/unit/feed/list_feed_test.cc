// tests/unit/feed/list_feed_test.cc — what an HTTP list feed decides without a server: its
// formats are the importer's, its back-off doubles with jitter inside its bounds, and its
// configuration says what each kind needs (the download itself: e2e test_feed_http.py against
// nginx).
#include <doctest/doctest.h>

#include <random>

#include "config/schema.h"
#include "feed/list_feed.h"
#include "policy/import/importer.h"

using namespace sekisho;

TEST_CASE("every list format of the configuration is one of the importer's") {
  for (const auto& n : config::EnumNames<config::ListFormat>::names) {
    CAPTURE(n.name);
    auto f = policy::parse_format(n.name);
    REQUIRE(f.has_value());
    CHECK(policy::format_name(*f) == n.name);
    CHECK(*f != policy::Format::kUt1);  // a directory tree, not one download
  }
}

TEST_CASE("back-off: doubles per failure up to its cap, drawn from the upper half") {
  std::mt19937_64 rng(7);
  for (uint64_t failures = 1; failures <= 12; ++failures) {
    uint64_t lo = ~0ull, hi = 0;
    for (int i = 0; i < 2000; ++i) {
      const uint32_t s = feed::backoff_seconds(60, failures, 3600, rng());
      lo = std::min<uint64_t>(lo, s);
      hi = std::max<uint64_t>(hi, s);
    }
    const uint64_t full = std::min<uint64_t>(60ull << (failures - 1), 3600);
    CAPTURE(failures);
    CHECK(hi <= full);
    CHECK(lo >= full - full / 2);
    CHECK(hi > lo);  // jitter: not the same delay for everyone
  }
  CHECK(feed::backoff_seconds(60, 1, 3600, 0) == 30);
  CHECK(feed::backoff_seconds(60, 1, 3600, 30) == 60);
  CHECK(feed::backoff_seconds(1, 1, 1, 12345) == 1);
  CHECK(feed::backoff_seconds(60, 1000000, 3600, 0) == 1800);  // no overflow after many failures
}

TEST_CASE("feed kinds: what rpz-xfr and http feeds need, and what they must not have") {
  config::FeedSettings rpz;
  rpz.kind = config::FeedKind::rpz_xfr;
  auto problems = config::check_feed_kind(rpz);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].first == "primary");
  CHECK(problems[1].first == "zone");
  rpz.primary = "192.0.2.1:53";
  rpz.zone = "rpz.example";
  CHECK(config::check_feed_kind(rpz).empty());
  rpz.url = "https://lists.example/x";
  CHECK(config::check_feed_kind(rpz).size() == 1);

  config::FeedSettings http;
  http.kind = config::FeedKind::http;
  problems = config::check_feed_kind(http);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].first == "url");
  http.url = "https://lists.example/hosts.txt";
  CHECK(config::check_feed_kind(http).empty());
  http.zone = "rpz.example";
  CHECK(config::check_feed_kind(http).size() == 1);
  CHECK(config::check_feed_url("https://lists.example/a.txt").empty());
  CHECK(config::check_feed_url("http://127.0.0.1:8080/a.txt.gz").empty());
  CHECK_FALSE(config::check_feed_url("ftp://lists.example/a").empty());
  CHECK_FALSE(config::check_feed_url("https:///a").empty());
  CHECK_FALSE(config::check_feed_url("https://lists.example/a b").empty());
}
