// tests/unit/policy/schedule_window_test.cc — a schedule window's edges, to the second, with the
// time injected: it blocks from `from` (inclusive) up to but not at `to` (exclusive), also when it
// runs past midnight (then it belongs to the day it starts on), and a window ending at 24:00 or
// 00:00 ends at midnight. Windows come from YAML through the real loader and policy compiler, and
// the last case decides real queries against a category store on LMDB.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/yaml/load.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/import/importer.h"
#include "policy/policy.h"
#include "policy/store/category_store.h"
#include "policy/store/category_table.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/utc_time.h"

using namespace sekisho;
using namespace sekisho::policy;
using sekisho::test::utc;

namespace {

// A policy `p` with one schedule entry blocking social, compiled from YAML as sekishod does.
std::shared_ptr<const PolicySnapshot> compile(const std::string& days, const std::string& from, const std::string& to,
                                              const std::string& zone) {
  const std::string yaml = "server: {listen: {dns: [\"127.0.0.1:0\"]}}\n"
                           "upstreams: [127.0.0.1:53]\n"
                           "tenants: [{id: t, networks: [\"10.0.0.0/8\"], policy: p}]\n"
                           "policies:\n"
                           "  p:\n"
                           "    schedule:\n"
                           "      - block: [social]\n"
                           "        days: [" + days + "]\n"
                           "        from: \"" + from + "\"\n"
                           "        to: \"" + to + "\"\n"
                           "        timezone: " + zone + "\n";
  auto loaded = config::load_config_text(yaml, "schedule.yaml");
  REQUIRE(loaded.ok());
  std::vector<config::ConfigError> errors;
  auto snap = compile_policies(loaded.settings, utc(2026, 11, 23, 0, 0), errors);
  for (const auto& e : errors) FAIL(e.to_string());
  REQUIRE(snap->policies.size() == 1);
  REQUIRE(snap->policies[0].schedule.size() == 1);
  return snap;
}

}  // namespace

TEST_CASE("schedule window: blocks from its start up to but not at its end, to the second") {
  // Monday 2026-11-23; Tokyo is UTC+9 all year: 09:00 Tokyo = 00:00 UTC, 18:00 Tokyo = 09:00 UTC.
  auto snap = compile("mon, tue, wed, thu, fri", "09:00", "18:00", "Asia/Tokyo");
  const CompiledSchedule& s = snap->policies[0].schedule[0];
  CHECK(s.description == "mon-fri 09:00-18:00 Asia/Tokyo");
  CHECK_FALSE(s.active_at(utc(2026, 11, 22, 23, 59, 59)));  // 08:59:59
  CHECK(s.active_at(utc(2026, 11, 23, 0, 0, 0)));            // 09:00:00, the start
  CHECK(s.active_at(utc(2026, 11, 23, 8, 59, 0)));           // 17:59:00, the last minute
  CHECK(s.active_at(utc(2026, 11, 23, 8, 59, 59)));          // 17:59:59
  CHECK_FALSE(s.active_at(utc(2026, 11, 23, 9, 0, 0)));      // 18:00:00, the end: not in it
  CHECK_FALSE(s.active_at(utc(2026, 11, 23, 9, 0, 59)));     // 18:00:59, the end's minute
  CHECK_FALSE(s.active_at(utc(2026, 11, 23, 9, 1, 0)));
  // The same edges on Friday; Saturday's 09:00-18:00 is not listed.
  CHECK(s.active_at(utc(2026, 11, 27, 0, 0, 0)));
  CHECK_FALSE(s.active_at(utc(2026, 11, 27, 9, 0, 0)));
  CHECK_FALSE(s.active_at(utc(2026, 11, 28, 0, 0, 0)));
}

TEST_CASE("schedule window: a one-minute window holds exactly one minute") {
  auto snap = compile("mon", "12:30", "12:31", "UTC");
  const CompiledSchedule& s = snap->policies[0].schedule[0];
  CHECK_FALSE(s.active_at(utc(2026, 11, 23, 12, 29, 59)));
  CHECK(s.active_at(utc(2026, 11, 23, 12, 30, 0)));
  CHECK(s.active_at(utc(2026, 11, 23, 12, 30, 59)));
  CHECK_FALSE(s.active_at(utc(2026, 11, 23, 12, 31, 0)));
}

TEST_CASE("schedule window past midnight: starts on the listed day, ends before its end the next day") {
  // Friday 22:00 to Saturday 06:00 in Tokyo (13:00 UTC Friday to 21:00 UTC Friday).
  auto snap = compile("fri", "22:00", "06:00", "Asia/Tokyo");
  const CompiledSchedule& s = snap->policies[0].schedule[0];
  CHECK_FALSE(s.active_at(utc(2026, 11, 27, 12, 59, 59)));  // Friday 21:59:59
  CHECK(s.active_at(utc(2026, 11, 27, 13, 0, 0)));           // Friday 22:00:00, the start
  CHECK(s.active_at(utc(2026, 11, 27, 14, 59, 59)));         // Friday 23:59:59
  CHECK(s.active_at(utc(2026, 11, 27, 15, 0, 0)));           // Saturday 00:00:00, still Friday's
  CHECK(s.active_at(utc(2026, 11, 27, 20, 59, 59)));         // Saturday 05:59:59
  CHECK_FALSE(s.active_at(utc(2026, 11, 27, 21, 0, 0)));     // Saturday 06:00:00, the end: not in it
  CHECK_FALSE(s.active_at(utc(2026, 11, 27, 21, 0, 30)));
  // Saturday evening is not a listed start; Friday's early morning belongs to Thursday's window.
  CHECK_FALSE(s.active_at(utc(2026, 11, 28, 13, 0, 0)));     // Saturday 22:00
  CHECK_FALSE(s.active_at(utc(2026, 11, 26, 15, 0, 0)));     // Friday 00:00 (Thursday not listed)
  CHECK_FALSE(s.active_at(utc(2026, 11, 26, 20, 59, 59)));   // Friday 05:59:59
}

TEST_CASE("schedule window ending at midnight: 24:00 and 00:00 both end as the day does") {
  for (const char* end : {"24:00", "00:00"}) {
    CAPTURE(end);
    auto snap = compile("mon", "18:00", end, "UTC");
    const CompiledSchedule& s = snap->policies[0].schedule[0];
    CHECK_FALSE(s.active_at(utc(2026, 11, 23, 17, 59, 59)));
    CHECK(s.active_at(utc(2026, 11, 23, 18, 0, 0)));
    CHECK(s.active_at(utc(2026, 11, 23, 23, 59, 59)));         // Monday's last second
    CHECK_FALSE(s.active_at(utc(2026, 11, 24, 0, 0, 0)));      // Tuesday 00:00:00
    CHECK_FALSE(s.active_at(utc(2026, 11, 24, 0, 0, 1)));
  }
}

TEST_CASE("schedule window: decide blocks the window's categories at its start and resolves at its end") {
  sekisho::test::TempDir dir;
  {
    StoreWriter w(dir.path.string());
    ImportOptions opt;
    opt.format = Format::kCsv;
    EntrySet set;
    ImportReport report;
    ImportSink sink(set, report, opt);
    sink.set_file("csv");
    parse_text(Format::kCsv, "social.example,social\n", sink);
    set.finalize();
    SourceInfo info;
    info.name = "csv";
    info.format = "csv";
    w.replace_source(info, set);
  }
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader reader(*store);
  auto snap = compile("mon", "09:00", "18:00", "UTC");
  const CompiledPolicy& p = snap->policies[0];
  const std::string name = to_wire("www.social.example");
  auto decide = [&](int64_t now) {
    REQUIRE(reader.begin_batch());
    Verdict v = decide_query(p, {reinterpret_cast<const uint8_t*>(name.data()), name.size()}, &reader, now);
    reader.end_batch();
    return v;
  };
  Verdict v = decide(utc(2026, 11, 23, 9, 0, 0));
  CHECK(v.blocked());
  CHECK(v.rule == RuleKind::schedule);
  CHECK(v.schedule == &p.schedule[0]);
  CHECK(decide(utc(2026, 11, 23, 17, 59, 59)).blocked());
  CHECK_FALSE(decide(utc(2026, 11, 23, 18, 0, 0)).blocked());
  CHECK_FALSE(decide(utc(2026, 11, 23, 8, 59, 59)).blocked());
}
