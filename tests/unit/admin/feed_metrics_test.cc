// admin/api/metrics: the feeds' series from their status files (sekisho_feed_*).
#include <doctest/doctest.h>

#include <string>

#include "admin/api/metrics.h"
#include "feed/status.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;

TEST_CASE("feed metrics: one series per feed and family; a feed that never ran reports 0") {
  test::TempDir dir;
  feed::FeedStatus ran;
  ran.name = "threat";
  ran.last_success = 1765000000;
  ran.last_attempt = 1765000100;
  ran.entries = 1234;
  ran.serial = 42;
  ran.failures_total = 3;
  REQUIRE(feed::write_status(feed::status_path(dir.path.string(), "threat"), ran).empty());
  config::Settings s;
  s.feed_service.state_directory = dir.path.string();
  s.feeds.resize(2);
  s.feeds[0].name = "threat";
  s.feeds[1].name = "never";
  const auto statuses = feed::read_statuses(s);
  REQUIRE(statuses.size() == 2);
  const std::string text = admin::render_feed_metrics(statuses);
  CHECK(text.find("# TYPE sekisho_feed_last_success_timestamp_seconds gauge\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_last_success_timestamp_seconds{feed=\"threat\"} 1765000000\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_last_success_timestamp_seconds{feed=\"never\"} 0\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_entries{feed=\"threat\"} 1234\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_serial{feed=\"threat\"} 42\n") != std::string::npos);
  CHECK(text.find("# TYPE sekisho_feed_failures_total counter\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_failures_total{feed=\"threat\"} 3\n") != std::string::npos);
  CHECK(text.find("sekisho_feed_expired{feed=\"never\"} 0\n") != std::string::npos);
  CHECK(admin::render_feed_metrics({}).empty());
}
