// admin/api: query-log search over real files — binary (querylog::append_frame, as the writer
// writes them) and JSON lines (querylog::append_json_line, as it wrote them before format 1),
// the same records in both giving the same pages — and the /metrics text.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "admin/api/metrics.h"
#include "admin/api/querylog_search.h"
#include "policy/domain_list.h"
#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "tests/unit/admin/api_fixture.h"

using nlohmann::json;
using sekisho::test::ApiFixture;
namespace ql = sekisho::querylog;

namespace {

int64_t at(const char* date, int h, int m, int s) { return (*ql::parse_date(date) * 86400 + h * 3600 + m * 60 + s) * int64_t{1000000}; }

ql::QueryRecord record(int64_t time_us, const std::string& name, uint8_t client_last, ql::QueryAction action) {
  ql::QueryRecord r;
  r.time_us = time_us;
  r.tenant = 0;
  r.qtype = 1;
  r.action = action;
  const uint8_t v4[4] = {10, 1, 0, client_last};
  ql::set_client_v4(r, v4);
  const std::string wire = sekisho::policy::to_wire(name);
  ql::set_qname(r, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
  return r;
}

// Two days of log: day 1 has acme a0..a4 and beta b0..b1 interleaved; day 2 has acme a5..a6.
void write_log(const std::filesystem::path& dir) {
  std::string day1, day2;
  for (int i = 0; i < 5; ++i) {
    ql::append_json_line(day1, record(at("2026-11-24", 10, i, 0), "a" + std::to_string(i) + ".example", 1 + i % 2,
                                      i % 2 ? ql::QueryAction::blocked : ql::QueryAction::resolved), "acme");
    if (i < 2) ql::append_json_line(day1, record(at("2026-11-24", 10, i, 30), "b" + std::to_string(i) + ".example", 9, ql::QueryAction::resolved), "beta");
  }
  for (int i = 5; i < 7; ++i)
    ql::append_json_line(day2, record(at("2026-11-25", 1, i, 0), "a" + std::to_string(i) + ".example", 1, ql::QueryAction::resolved), "acme");
  sekisho::test::write_text(dir / "queries-2026-11-24.jsonl", day1);
  sekisho::test::write_text(dir / "queries-2026-11-25.jsonl", day2);
  sekisho::test::write_text(dir / "not-a-log.txt", "x");
}

// A binary log file holding `frames` (append_frame output), as the writer leaves it.
std::string binary_file(const std::string& frames) {
  uint8_t header[ql::kLogHeaderSize];
  ql::write_log_header(header);
  return std::string(reinterpret_cast<const char*>(header), sizeof header) + frames;
}

std::vector<std::string> names(const sekisho::admin::LogPage& p) {
  std::vector<std::string> out;
  for (const auto& r : p.records) out.push_back(r["name"]);
  return out;
}

}  // namespace

TEST_CASE("query-log search: newest first across days, paged by cursor without repeats or gaps") {
  ApiFixture f;
  write_log(f.dir / "querylog");
  sekisho::admin::LogQuery q;
  q.tenant = "acme";
  q.limit = 3;
  auto p1 = sekisho::admin::search_querylog((f.dir / "querylog").string(), q);
  CHECK(names(p1) == std::vector<std::string>{"a6.example", "a5.example", "a4.example"});
  REQUIRE(!p1.next_cursor.empty());
  q.cursor = p1.next_cursor;
  auto p2 = sekisho::admin::search_querylog((f.dir / "querylog").string(), q);
  CHECK(names(p2) == std::vector<std::string>{"a3.example", "a2.example", "a1.example"});
  q.cursor = p2.next_cursor;
  auto p3 = sekisho::admin::search_querylog((f.dir / "querylog").string(), q);
  CHECK(names(p3) == std::vector<std::string>{"a0.example"});
  CHECK(p3.next_cursor.empty());
  q.cursor = "garbage";
  CHECK_THROWS_AS(sekisho::admin::search_querylog((f.dir / "querylog").string(), q), std::invalid_argument);
}

TEST_CASE("query-log search: filters by time range, client, name substring and action") {
  ApiFixture f;
  write_log(f.dir / "querylog");
  const std::string dir = (f.dir / "querylog").string();
  sekisho::admin::LogQuery q;
  q.tenant = "acme";
  q.from_us = at("2026-11-24", 10, 1, 0);
  q.to_us = at("2026-11-24", 10, 3, 0);
  CHECK(names(sekisho::admin::search_querylog(dir, q)) == std::vector<std::string>{"a2.example", "a1.example"});
  q = {};
  q.tenant = "acme";
  q.client = "10.1.0.2";
  CHECK(names(sekisho::admin::search_querylog(dir, q)) == std::vector<std::string>{"a3.example", "a1.example"});
  q.client.clear();
  q.action = "blocked";
  q.name = "a3";
  CHECK(names(sekisho::admin::search_querylog(dir, q)) == std::vector<std::string>{"a3.example"});
}

TEST_CASE("the querylog endpoint confines a tenant-admin to its own lines") {
  ApiFixture f;
  write_log(f.dir / "querylog");
  auto mine = ApiFixture::json_of(f.call("GET", "/api/v1/querylog?limit=100", f.acme_token));
  REQUIRE(mine["records"].size() == 7);
  for (const auto& r : mine["records"]) CHECK(r["tenant"] == "acme");
  auto theirs = ApiFixture::json_of(f.call("GET", "/api/v1/querylog?limit=100", f.beta_token));
  CHECK(theirs["records"].size() == 2);
  auto all = ApiFixture::json_of(f.call("GET", "/api/v1/querylog?limit=100", f.operator_token));
  CHECK(all["records"].size() == 9);
  auto range = ApiFixture::json_of(
      f.call("GET", "/api/v1/querylog?from=2026-11-25&to=2026-11-25T01%3A06%3A00Z", f.acme_token));
  REQUIRE(range["records"].size() == 1);
  CHECK(range["records"][0]["name"] == "a5.example");
  auto bad = f.call("GET", "/api/v1/querylog?from=yesterday", f.acme_token);
  CHECK(bad.status == 400);
  CHECK(ApiFixture::json_of(bad)["field"] == "from");
  CHECK(f.call("GET", "/api/v1/querylog?limit=0", f.acme_token).status == 400);
}

TEST_CASE("query-log search: a rare name ends pages at the scan budget, each line read once") {
  ApiFixture f("", 1000);
  const auto dir = f.dir / "querylog";
  std::filesystem::create_directories(dir);
  // 4,500 lines over two days; the one "needle" line is the oldest of the older day.
  for (const char* day : {"2026-11-24", "2026-11-25"}) {
    std::string text;
    for (int i = 0; i < 2250; ++i) {
      const bool needle = std::string(day) == "2026-11-24" && i == 0;
      ql::append_json_line(text, record(at(day, 1, 0, 0) + int64_t{i} * 1000000, needle ? "needle.example" : "n" + std::to_string(i) + ".example", 1,
                                        ql::QueryAction::resolved),
                           "acme");
    }
    sekisho::test::write_text(dir / (std::string("queries-") + day + ".jsonl"), text);
  }
  std::string cursor;
  uint64_t scanned = 0;
  int pages = 0;
  std::vector<std::string> found;
  while (true) {
    auto page = ApiFixture::json_of(f.call("GET", "/api/v1/querylog?name=needle" + (cursor.empty() ? "" : "&cursor=" + cursor), f.acme_token));
    ++pages;
    for (const auto& r : page["records"]) found.push_back(r["name"]);
    if (page["next_cursor"].is_null()) {
      CHECK(page["scan_limited"] == false);
      break;
    }
    CHECK(page["scan_limited"] == true);  // never full: only the budget ends these pages
    cursor = page["next_cursor"];
    REQUIRE(pages < 10);
  }
  CHECK(found == std::vector<std::string>{"needle.example"});
  CHECK(pages == 5);  // 4,500 lines at 1,000 a page

  // The same through search_querylog: every line is scanned exactly once over the pages.
  sekisho::admin::LogQuery q;
  q.tenant = "acme";
  q.name = "needle";
  q.max_lines_scanned = 1000;
  while (true) {
    auto p = sekisho::admin::search_querylog(dir.string(), q);
    scanned += p.lines_scanned;
    if (p.next_cursor.empty()) break;
    q.cursor = p.next_cursor;
  }
  CHECK(scanned == 4500);
}

TEST_CASE("metrics: exposition format with bounded per-tenant series") {
  sekisho::resolver::EngineSample s;
  s.queries[0] = 10;
  s.cache_hits = 3;
  s.upstreams.push_back({"127.0.0.1:53", false, 5, 2, 1500, 3, 1, 4, 2});
  for (int i = 0; i < 60; ++i) {
    ql::TenantStats t;
    t.tenant_id = "t" + std::to_string(i);
    t.queries = 100 + i;
    t.by_action[static_cast<size_t>(ql::QueryAction::resolved)] = 100 + i;
    s.tenants.push_back(t);
  }
  s.tenants[58].tenant_id = "we\"ird";
  const std::string text = sekisho::admin::render_metrics(s);
  CHECK(text.find("# TYPE sekisho_queries_total counter\n") != std::string::npos);
  CHECK(text.find("sekisho_queries_total{transport=\"udp\"} 10\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_up{upstream=\"127.0.0.1:53\"} 0\n") != std::string::npos);
  CHECK(text.find("# TYPE sekisho_upstream_response_seconds summary\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_response_seconds_sum{upstream=\"127.0.0.1:53\"} 0.001500\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_response_seconds_count{upstream=\"127.0.0.1:53\"} 5\n") != std::string::npos);
  CHECK(text.find("# TYPE sekisho_upstream_tcp_connections_opened_total counter\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_tcp_connections_opened_total{upstream=\"127.0.0.1:53\"} 3\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_tcp_queries_resent_total{upstream=\"127.0.0.1:53\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE sekisho_upstream_tcp_connections_retired_total counter\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_tcp_connections_retired_total{upstream=\"127.0.0.1:53\"} 4\n") != std::string::npos);
  CHECK(text.find("# TYPE sekisho_upstream_tcp_connections_open gauge\n") != std::string::npos);
  CHECK(text.find("sekisho_upstream_tcp_connections_open{upstream=\"127.0.0.1:53\"} 2\n") != std::string::npos);
  CHECK(text.find("sekisho_tenant_queries_total{tenant=\"t59\",action=\"resolved\"} 159\n") != std::string::npos);
  // The 10 least busy tenants (t0..t9) are summed: 100+…+109 = 1045.
  CHECK(text.find("tenant=\"t9\"") == std::string::npos);
  CHECK(text.find("sekisho_tenant_queries_total{tenant=\"we\\\"ird\",action=\"resolved\"} 158\n") != std::string::npos);
  CHECK(text.find("sekisho_tenant_queries_total{tenant=\"_other\",action=\"resolved\"} 1045\n") != std::string::npos);
  CHECK(text.find("category_") == std::string::npos);  // no store configured, no store or memo series
  CHECK(text.find("sekisho_query_duration_seconds") == std::string::npos);  // no sample, no family
  size_t series = 0;
  for (size_t pos = 0; (pos = text.find("sekisho_tenant_queries_total{", pos)) != std::string::npos; ++pos) ++series;
  CHECK(series == sekisho::admin::kMaxTenantSeries + 1);
}

TEST_CASE("metrics: the latency histogram is cumulative, in seconds, with sum and count") {
  sekisho::resolver::EngineSample s;
  s.latency.bounds_us = {100, 1000};
  s.latency.buckets = {5, 3, 2};  // <=100 µs, <=1 ms, slower
  s.latency.sum_us = 2500000;
  const std::string text = sekisho::admin::render_metrics(s);
  CHECK(text.find("# TYPE sekisho_query_duration_seconds histogram\n") != std::string::npos);
  CHECK(text.find("sekisho_query_duration_seconds_bucket{le=\"0.0001\"} 5\n") != std::string::npos);
  CHECK(text.find("sekisho_query_duration_seconds_bucket{le=\"0.001\"} 8\n") != std::string::npos);
  CHECK(text.find("sekisho_query_duration_seconds_bucket{le=\"+Inf\"} 10\n") != std::string::npos);
  CHECK(text.find("sekisho_query_duration_seconds_sum 2.500000\n") != std::string::npos);
  CHECK(text.find("sekisho_query_duration_seconds_count 10\n") != std::string::npos);
}

namespace {

// The reference the search must equal: every line of every file, newest day first and the last
// line first within a day, filtered one by one.
std::vector<std::string> reference(const std::string& dir, const std::vector<std::string>& days, const sekisho::admin::LogQuery& q) {
  std::vector<std::string> out;
  for (const auto& day : days) {
    std::ifstream in(dir + "/queries-" + day + ".jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      json r = json::parse(*it, nullptr, false);
      if (r.is_discarded()) continue;
      const std::string t = r["time"];
      if (!q.tenant.empty() && r["tenant"] != q.tenant) continue;
      if (q.from_us != INT64_MIN && t < [&] { std::string s; ql::append_time(s, q.from_us); return s; }()) continue;
      if (q.to_us != INT64_MAX && t >= [&] { std::string s; ql::append_time(s, q.to_us); return s; }()) continue;
      if (!q.action.empty() && r["action"] != q.action) continue;
      out.push_back(r["name"]);
    }
  }
  return out;
}

std::vector<std::string> all_pages(const std::string& dir, sekisho::admin::LogQuery q, size_t& pages,
                                   size_t* scan_limited_pages = nullptr, std::vector<std::string>* records = nullptr) {
  std::vector<std::string> out;
  pages = 0;
  while (true) {
    auto p = sekisho::admin::search_querylog(dir, q);
    ++pages;
    if (scan_limited_pages && p.scan_limited) ++*scan_limited_pages;
    for (const auto& r : p.records) out.push_back(r["name"]);
    if (records)
      for (const auto& r : p.records) records->push_back(r.dump());
    if (p.next_cursor.empty()) return out;
    REQUIRE((p.records.size() == q.limit || p.scan_limited));
    REQUIRE(p.lines_scanned <= q.max_lines_scanned);
    q.cursor = p.next_cursor;
  }
}

}  // namespace

TEST_CASE("query-log search: reading backwards by blocks and seeking by time equal a full scan") {
  ApiFixture f;
  const auto dir = f.dir / "querylog";
  std::filesystem::create_directories(dir);
  // Two days of 15000 records each (several read blocks per file), times a few seconds out of
  // order as the writer's interleaved passes leave them, three tenants, some blocked.
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) % 1000000; };
  const std::vector<std::string> days = {"2026-11-25", "2026-11-24"};
  // The same records in both formats: JSON lines in `dir` (the reference reads them), binary
  // frames in `bin`; every search must give the same records, page for page.
  const auto bin = f.dir / "querylog-binary";
  std::filesystem::create_directories(bin);
  const auto& registry = sekisho::policy::CategoryRegistry::builtins();
  const uint8_t gambling = static_cast<uint8_t>(registry.by_slug("gambling")->id);
  for (const auto& day : days) {
    std::string text, frames;
    for (int i = 0; i < 15000; ++i) {
      const int64_t t = at(day.c_str(), 0, 0, 0) + int64_t{i} * 5760000 + int64_t{rnd() % 3000} * 1000;
      auto r = record(t, day.substr(8) + "n" + std::to_string(i) + ".example", 1 + i % 7,
                      i % 13 == 0 ? ql::QueryAction::blocked : ql::QueryAction::resolved);
      if (i % 13 == 0) {
        r.rule = ql::RuleKind::category;
        r.categories.add(gambling);
        if (i % 39 == 0) r.categories.add(250);  // an id the registry does not name: "#250"
        r.rcode = 3;
        ql::set_text(r.rule_text, i % 2 ? "casino.example" : "");
      }
      if (i % 5 == 0) ql::set_text(r.device, "laptop-" + std::to_string(i % 4));
      if (i % 11 == 0) r.log_mode = ql::LogMode::anonymized;
      r.latency_us = static_cast<uint32_t>(rnd());
      r.upstream = i % 17 == 0 ? ql::kNoUpstream : static_cast<uint8_t>(i % 3);
      const char* tenant = i % 3 == 0 ? "acme" : i % 3 == 1 ? "beta" : "gamma";
      ql::append_json_line(text, r, tenant, registry);
      ql::append_frame(frames, r, tenant, registry);
    }
    if (day == days[0]) text += "{\"time\":\"2026-11-25T23:59:59.9";  // a line still being written: skipped
    std::string file = binary_file(frames);
    if (day == days[0]) file += frames.substr(0, 40);  // a frame still being written (or torn): skipped
    sekisho::test::write_text(dir / ("queries-" + day + ".jsonl"), text);
    sekisho::test::write_text(bin / ("queries-" + day + ".qlog"), file);
  }
  struct Case {
    const char* tenant;
    int64_t from, to;
    const char* action;
    size_t limit;
  } cases[] = {
      {"acme", INT64_MIN, INT64_MAX, "", 100},
      {"", INT64_MIN, INT64_MAX, "", 1000},
      {"beta", at("2026-11-24", 12, 0, 0), at("2026-11-24", 12, 30, 0), "", 7},
      {"acme", at("2026-11-24", 20, 0, 0), at("2026-11-25", 3, 0, 0), "blocked", 5},
      {"gamma", at("2026-11-25", 6, 0, 0), INT64_MAX, "", 333},
      {"", INT64_MIN, at("2026-11-24", 0, 10, 0), "", 3},
  };
  size_t scan_limited_pages = 0;
  for (const auto& c : cases) {
    sekisho::admin::LogQuery q;
    q.tenant = c.tenant;
    q.from_us = c.from;
    q.to_us = c.to;
    q.action = c.action;
    q.limit = c.limit;
    const auto want = reference(dir.string(), days, q);
    CAPTURE(c.tenant);
    CAPTURE(c.limit);
    REQUIRE(!want.empty());
    std::vector<std::string> records_of[2];
    for (const bool binary : {false, true}) {
      CAPTURE(binary);
      const std::string d = (binary ? bin : dir).string();
      q.max_lines_scanned = sekisho::admin::LogQuery::kDefaultMaxLinesScanned;
      q.cursor.clear();
      size_t pages = 0;
      std::vector<std::string> records;
      const auto got = all_pages(d, q, pages, nullptr, &records);
      CHECK(got == want);
      CHECK(pages <= want.size() / c.limit + 1);
      records_of[binary] = records;
      // A scan budget splits the same search into more, shorter pages: nothing lost or repeated.
      q.max_lines_scanned = 997;
      const size_t unlimited_pages = pages;
      const auto limited = all_pages(d, q, pages, &scan_limited_pages);
      CHECK(limited == want);
      CHECK(pages >= unlimited_pages);
    }
    CHECK(records_of[1] == records_of[0]);  // whole records, every field
  }
  CHECK(scan_limited_pages > 20);  // the sparse cases did meet the budget, in both formats
  // The newest page reads only the end of the file.
  sekisho::admin::LogQuery q;
  q.tenant = "acme";
  q.limit = 10;
  CHECK(sekisho::admin::search_querylog(dir.string(), q).lines_scanned < 2000);
  CHECK(sekisho::admin::search_querylog(bin.string(), q).lines_scanned < 2000);
  CHECK(sekisho::admin::search_querylog(bin.string(), q).bytes_unreadable == 40);  // the torn tail, skipped
  // Searches by client, device and name compare the rendered fields: the same in both formats.
  for (const auto& [client, device, name] : {std::tuple{"10.1.0.3", "", ""}, std::tuple{"10.1.0.0", "", ""},
                                             std::tuple{"", "laptop-2", ""}, std::tuple{"", "", "24n14"}}) {
    q = {};
    q.client = client;
    q.device = device;
    q.name = name;
    q.limit = 50;
    size_t pages = 0;
    std::vector<std::string> from_json, from_binary;
    all_pages(dir.string(), q, pages, nullptr, &from_json);
    all_pages(bin.string(), q, pages, nullptr, &from_binary);
    const std::string searched = std::string(client) + "|" + device + "|" + name;
    CAPTURE(searched);
    CHECK(!from_json.empty());
    CHECK(from_binary == from_json);
  }
}

TEST_CASE("query-log search: a day written before and after the upgrade reads binary first, then its JSON lines") {
  ApiFixture f;
  const auto dir = f.dir / "querylog";
  std::filesystem::create_directories(dir);
  std::string old_lines, frames, older_day;
  for (int i = 0; i < 4; ++i)
    ql::append_json_line(old_lines, record(at("2026-11-25", 1, i, 0), "old" + std::to_string(i) + ".example", 1, ql::QueryAction::resolved), "acme");
  for (int i = 0; i < 3; ++i)
    ql::append_frame(frames, record(at("2026-11-25", 2, i, 0), "new" + std::to_string(i) + ".example", 1, ql::QueryAction::resolved), "acme",
                     sekisho::policy::CategoryRegistry::builtins());
  ql::append_json_line(older_day, record(at("2026-11-24", 1, 0, 0), "yesterday.example", 1, ql::QueryAction::resolved), "acme");
  sekisho::test::write_text(dir / "queries-2026-11-25.jsonl", old_lines);
  sekisho::test::write_text(dir / "queries-2026-11-25.qlog", binary_file(frames));
  sekisho::test::write_text(dir / "queries-2026-11-24.jsonl", older_day);
  sekisho::admin::LogQuery q;
  q.limit = 2;
  size_t pages = 0;
  CHECK(all_pages(dir.string(), q, pages) == std::vector<std::string>{"new2.example", "new1.example", "new0.example", "old3.example",
                                                                     "old2.example", "old1.example", "old0.example",
                                                                     "yesterday.example"});
  CHECK(pages == 4);
}
