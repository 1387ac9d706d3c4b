// admin/api/daily_stats: files of earlier days merged with the writer's hourly buckets, saved
// only when something grew, never decreasing, pruned to kKeepDays.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "admin/api/daily_stats.h"
#include "policy/querylog/format.h"
#include "tests/unit/temp_dir.h"

namespace ql = sekisho::querylog;
using sekisho::admin::DailyStats;

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A snapshot whose hourly series holds `hours` as (hour start, queries, blocked).
ql::TenantStats snapshot(const std::string& id, std::vector<ql::HourBucket> hours) {
  ql::TenantStats s;
  s.tenant_id = id;
  s.hourly = std::move(hours);
  return s;
}

using sekisho::test::TempDir;

}  // namespace

TEST_CASE("daily stats: the file's days plus today's hours, saved when they grow, never less") {
  TempDir dir;
  const int64_t today = *ql::parse_date("2026-11-25");
  const int64_t h = today * 86400;  // today 00:00 UTC in seconds
  std::ofstream(dir.path / "acme.jsonl") << "{\"date\":\"2026-11-24\",\"queries\":10,\"blocked\":2}\n"
                                         << "{\"date\":\"2026-11-25\",\"queries\":100,\"blocked\":20}\n"
                                         << "{\"date\":\"2026-08-01\",\"queries\":5,\"blocked\":0}\n";
  DailyStats d(dir.path.string());
  // Yesterday's last hour and two hours of today, as the writer's 48-hour ring holds them.
  auto live = snapshot("acme", {{h - 3600, 3, 1}, {h, 4, 0}, {h + 3600, 6, 2}});
  auto s = d.series(live, today - 2, today);
  REQUIRE(s.size() == 3);
  CHECK((s[0].queries == 0 && s[1].queries == 13 && s[1].blocked == 3 && s[2].queries == 110 && s[2].blocked == 22));
  CHECK(d.persist({live}, today) == 1);
  // 2026-08-01 is more than 90 days back: dropped.
  CHECK(read(dir.path / "acme.jsonl") == "{\"date\":\"2026-11-24\",\"queries\":13,\"blocked\":3}\n"
                                        "{\"date\":\"2026-11-25\",\"queries\":110,\"blocked\":22}\n");
  CHECK(d.persist({live}, today) == 0);  // unchanged: not rewritten
  // A reload that restarts the tenant's counters never makes a day go down.
  auto after = snapshot("acme", {{h + 7200, 1, 0}});
  CHECK(d.persist({after}, today) == 0);
  CHECK(d.series(after, today, today)[0].queries == 110);

  // A new process reads the saved days as its base.
  DailyStats next(dir.path.string());
  auto fresh = snapshot("acme", {{h + 7200, 5, 1}});
  CHECK(next.series(fresh, today, today)[0].queries == 115);
  CHECK(next.persist({fresh, snapshot("quiet", {})}, today) == 1);
  CHECK(!std::filesystem::exists(dir.path / "quiet.jsonl"));
}

TEST_CASE("daily stats: unreadable lines are skipped and the original kept as .bad") {
  TempDir dir;
  const int64_t today = *ql::parse_date("2026-11-25");
  std::ofstream(dir.path / "beta.jsonl") << "{\"date\":\"2026-11-20\",\"queries\":7,\"blocked\":1}\n"
                                         << "garbage\n{\"date\":\"yesterday\",\"queries\":1,\"blocked\":1}\n";
  DailyStats d(dir.path.string());
  auto live = snapshot("beta", {{today * 86400, 1, 0}});
  CHECK(d.series(live, today - 5, today - 5)[0].queries == 7);
  CHECK(d.persist({live}, today) == 1);
  CHECK(read(dir.path / "beta.jsonl.bad").find("garbage") != std::string::npos);
  CHECK(read(dir.path / "beta.jsonl") == "{\"date\":\"2026-11-20\",\"queries\":7,\"blocked\":1}\n"
                                        "{\"date\":\"2026-11-25\",\"queries\":1,\"blocked\":0}\n");
}

TEST_CASE("daily stats: no directory keeps days in memory only") {
  DailyStats d("");
  const int64_t today = *ql::parse_date("2026-11-25");
  auto live = snapshot("acme", {{today * 86400, 2, 1}});
  CHECK(d.series(live, today, today)[0].queries == 2);
  CHECK(d.persist({live}, today) == 0);
}
