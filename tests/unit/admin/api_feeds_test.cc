// GET /api/v1/feeds: every configured feed's status, read from the status files sekisho-feed
// writes through the one reader `sekisho feed status` and /metrics use; operators only.
#include <doctest/doctest.h>

#include "feed/status.h"
#include "tests/unit/admin/api_fixture.h"
#include "tests/unit/temp_dir.h"

using sekisho::test::ApiFixture;

TEST_CASE("feeds: each configured feed's status file, a never-run feed too; tenant admins are refused") {
  sekisho::test::TempDir state;
  const std::string feeds =
      "category_db: \"" + (state.path / "store").string() + "\"\n"
      "feeds:\n"
      "  - {name: lists, kind: http, url: \"https://lists.example/hosts.txt\", format: hosts, categories: [malware]}\n"
      "  - {name: threat-rpz, kind: rpz-xfr, primary: \"192.0.2.53:53\", zone: rpz.example, categories: [phishing]}\n"
      "feed_service:\n  state_directory: \"" + (state.path / "feed-status").string() + "\"\n";
  ApiFixture f(feeds);
  sekisho::feed::FeedStatus lists;
  lists.name = "lists";
  lists.last_attempt = 1765000100;
  lists.last_success = 1765000000;
  lists.last_result = "refused";
  lists.last_refusal = "shrink: the update would remove 3 of the source's 4 entries (75.0%), more than the 50% allowed";
  lists.etag = "\"abc\"";
  lists.entries = 4;
  lists.failures_total = lists.consecutive_failures = lists.refusals_total = 1;
  std::filesystem::create_directories(state.path / "feed-status");
  REQUIRE(sekisho::feed::write_status((state.path / "feed-status" / "lists.json").string(), lists).empty());

  auto r = f.call("GET", "/api/v1/feeds", f.operator_token);
  REQUIRE(r.status == 200);
  const auto j = ApiFixture::json_of(r);
  REQUIRE(j["feeds"].size() == 2);
  const auto& a = j["feeds"][0];
  CHECK(a["name"] == "lists");
  CHECK(a["kind"] == "http");
  CHECK(a["url"] == "https://lists.example/hosts.txt");
  CHECK(a["format"] == "hosts");  // from the configuration
  CHECK(a["last_result"] == "refused");
  CHECK(a["last_refusal"].get<std::string>().starts_with("shrink: "));
  CHECK(a["etag"] == "\"abc\"");
  CHECK(a["entries"] == 4);
  CHECK(a["healthy"] == false);
  const auto& b = j["feeds"][1];
  CHECK(b["name"] == "threat-rpz");
  CHECK(b["kind"] == "rpz-xfr");
  CHECK(b["zone"] == "rpz.example");
  CHECK(b["last_success"] == 0);  // never ran: no file
  CHECK(j["problems"].empty());

  // An unreadable file is a problem named without the server's paths, the feed shown as never run.
  sekisho::test::write_text(state.path / "feed-status" / "threat-rpz.json", "not json");
  const auto k = ApiFixture::json_of(f.call("GET", "/api/v1/feeds", f.operator_token));
  REQUIRE(k["problems"].size() == 1);
  CHECK(k["problems"][0] == "threat-rpz.json: not a feed status file");
  CHECK(k["feeds"][1]["last_attempt"] == 0);

  CHECK(f.call("GET", "/api/v1/feeds", f.acme_token).status == 403);
  CHECK(f.call("GET", "/api/v1/feeds", "").status == 401);
  CHECK(f.call("POST", "/api/v1/feeds", f.operator_token).status == 405);
}
