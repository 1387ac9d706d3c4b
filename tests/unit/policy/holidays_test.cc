// tests/unit/policy/holidays_test.cc — Japan's national holidays as policy/holidays.cc computes
// them, against the Cabinet Office's list (内閣府「国民の祝日について」) for 2020–2030 written out
// here by hand: every day of those eleven years is checked both ways, so a missing holiday and
// an extra one both fail. The list includes the Olympic special law's moves (2020, 2021),
// 振替休日 and 2026's 国民の休日. Then the tenant calendar (dates and ranges) and schedules
// whose day class is `holiday`, and overrides with an expiry.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "base/civil_date.h"
#include "config/yaml/load.h"
#include "policy/holidays.h"
#include "policy/policy.h"
#include "tests/unit/policy/one_policy.h"
#include "tests/unit/utc_time.h"

using namespace sekisho;
using namespace sekisho::policy;
using sekisho::test::utc;

namespace {

// 内閣府 list, 2020–2030; (振) = 振替休日, (国) = 国民の休日.
const char* const kOfficial[] = {
    // 2020: 海の日 7/23, スポーツの日 7/24, 山の日 8/10 (Olympic special law)
    "2020-01-01", "2020-01-13", "2020-02-11", "2020-02-23", "2020-02-24" /*振*/, "2020-03-20", "2020-04-29",
    "2020-05-03", "2020-05-04", "2020-05-05", "2020-05-06" /*振*/, "2020-07-23", "2020-07-24", "2020-08-10",
    "2020-09-21", "2020-09-22", "2020-11-03", "2020-11-23",
    // 2021: 海の日 7/22, スポーツの日 7/23, 山の日 8/8 (a Sunday: 8/9 振替休日)
    "2021-01-01", "2021-01-11", "2021-02-11", "2021-02-23", "2021-03-20", "2021-04-29", "2021-05-03",
    "2021-05-04", "2021-05-05", "2021-07-22", "2021-07-23", "2021-08-08", "2021-08-09" /*振*/, "2021-09-20",
    "2021-09-23", "2021-11-03", "2021-11-23",
    "2022-01-01", "2022-01-10", "2022-02-11", "2022-02-23", "2022-03-21", "2022-04-29", "2022-05-03",
    "2022-05-04", "2022-05-05", "2022-07-18", "2022-08-11", "2022-09-19", "2022-09-23", "2022-10-10",
    "2022-11-03", "2022-11-23",
    "2023-01-01", "2023-01-02" /*振*/, "2023-01-09", "2023-02-11", "2023-02-23", "2023-03-21", "2023-04-29",
    "2023-05-03", "2023-05-04", "2023-05-05", "2023-07-17", "2023-08-11", "2023-09-18", "2023-09-23",
    "2023-10-09", "2023-11-03", "2023-11-23",
    "2024-01-01", "2024-01-08", "2024-02-11", "2024-02-12" /*振*/, "2024-02-23", "2024-03-20", "2024-04-29",
    "2024-05-03", "2024-05-04", "2024-05-05", "2024-05-06" /*振*/, "2024-07-15", "2024-08-11",
    "2024-08-12" /*振*/, "2024-09-16", "2024-09-22", "2024-09-23" /*振*/, "2024-10-14", "2024-11-03",
    "2024-11-04" /*振*/, "2024-11-23",
    "2025-01-01", "2025-01-13", "2025-02-11", "2025-02-23", "2025-02-24" /*振*/, "2025-03-20", "2025-04-29",
    "2025-05-03", "2025-05-04", "2025-05-05", "2025-05-06" /*振*/, "2025-07-21", "2025-08-11", "2025-09-15",
    "2025-09-23", "2025-10-13", "2025-11-03", "2025-11-23", "2025-11-24" /*振*/,
    "2026-01-01", "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29", "2026-05-03",
    "2026-05-04", "2026-05-05", "2026-05-06" /*振*/, "2026-07-20", "2026-08-11", "2026-09-21",
    "2026-09-22" /*国*/, "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23",
    "2027-01-01", "2027-01-11", "2027-02-11", "2027-02-23", "2027-03-21", "2027-03-22" /*振*/, "2027-04-29",
    "2027-05-03", "2027-05-04", "2027-05-05", "2027-07-19", "2027-08-11", "2027-09-20", "2027-09-23",
    "2027-10-11", "2027-11-03", "2027-11-23",
    "2028-01-01", "2028-01-10", "2028-02-11", "2028-02-23", "2028-03-20", "2028-04-29", "2028-05-03",
    "2028-05-04", "2028-05-05", "2028-07-17", "2028-08-11", "2028-09-18", "2028-09-22", "2028-10-09",
    "2028-11-03", "2028-11-23",
    "2029-01-01", "2029-01-08", "2029-02-11", "2029-02-12" /*振*/, "2029-02-23", "2029-03-20", "2029-04-29",
    "2029-04-30" /*振*/, "2029-05-03", "2029-05-04", "2029-05-05", "2029-07-16", "2029-08-11", "2029-09-17",
    "2029-09-23", "2029-09-24" /*振*/, "2029-10-08", "2029-11-03", "2029-11-23",
    "2030-01-01", "2030-01-14", "2030-02-11", "2030-02-23", "2030-03-20", "2030-04-29", "2030-05-03",
    "2030-05-04", "2030-05-05", "2030-05-06" /*振*/, "2030-07-15", "2030-08-11", "2030-08-12" /*振*/,
    "2030-09-16", "2030-09-23", "2030-10-14", "2030-11-03", "2030-11-04" /*振*/, "2030-11-23",
};

int64_t day(const char* text) {
  const auto d = base::parse_date(text);
  REQUIRE(d.has_value());
  return *d;
}

}  // namespace

TEST_CASE("holidays: Japan 2020-2030 is exactly the Cabinet Office's list") {
  std::set<int64_t> official;
  for (const char* d : kOfficial) official.insert(day(d));
  CHECK(official.size() == std::size(kOfficial));  // no date written twice
  int listed = 0;
  for (int64_t d = day("2020-01-01"); d <= day("2030-12-31"); ++d) {
    const base::CivilDate c = base::civil_from_days(d);
    INFO(c.year << "-" << c.month << "-" << c.day);
    CHECK(is_japanese_holiday(d) == (official.count(d) == 1));
    listed += is_japanese_holiday(d);
  }
  CHECK(listed == static_cast<int>(std::size(kOfficial)));
}

TEST_CASE("holidays: the 2019 enthronement days, Emperor's Birthday moves, and the years outside the table") {
  CHECK(is_japanese_holiday(day("2019-04-30")));  // 国民の休日 between 昭和の日 and the enthronement
  CHECK(is_japanese_holiday(day("2019-05-01")));
  CHECK(is_japanese_holiday(day("2019-05-02")));
  CHECK(is_japanese_holiday(day("2019-10-22")));
  CHECK(is_japanese_holiday(day("2018-12-24")));  // 12/23 on a Sunday
  CHECK_FALSE(is_japanese_holiday(day("2019-12-23")));
  CHECK_FALSE(is_japanese_holiday(day("2019-02-23")));
  CHECK(is_japanese_holiday(day("2015-09-22")));  // 国民の休日 (Silver Week)
  CHECK_FALSE(is_japanese_holiday(day("1999-01-01")));  // before the computed range
  CHECK_FALSE(is_japanese_holiday(day("2100-01-01")));
}

TEST_CASE("holidays: a calendar's own dates and ranges, merged, with or without the national ones") {
  const HolidayCalendar own(config::HolidayRule::none,
                            {{day("2026-12-28"), day("2027-01-05")}, {day("2027-01-04"), day("2027-01-07")},
                             {day("2027-03-25"), day("2027-03-25")}});
  CHECK_FALSE(own.holiday(day("2026-12-27")));
  CHECK(own.holiday(day("2026-12-28")));
  CHECK(own.holiday(day("2027-01-06")));  // the overlapping range
  CHECK(own.holiday(day("2027-01-07")));
  CHECK_FALSE(own.holiday(day("2027-01-08")));
  CHECK(own.holiday(day("2027-03-25")));
  CHECK_FALSE(own.holiday(day("2027-03-26")));
  CHECK_FALSE(own.holiday(day("2026-11-23")));  // no national rule
  const HolidayCalendar jp(config::HolidayRule::jp, {{day("2027-03-25"), day("2027-03-25")}});
  CHECK(jp.holiday(day("2026-11-23")));
  CHECK(jp.holiday(day("2027-03-25")));
  CHECK_FALSE(jp.holiday(day("2026-11-24")));
  CHECK(HolidayCalendar::none().empty());
}

namespace {

std::shared_ptr<const PolicySnapshot> compile(const std::string& policy, std::vector<config::ConfigError>* errors_out = nullptr) {
  return test::one_policy(policy, utc(2026, 11, 23), errors_out);
}

}  // namespace

TEST_CASE("schedules: a holiday is day `holiday`, not its weekday; calendar dates count; overrides expire") {
  auto snap = compile("    holidays: jp\n"
                      "    calendar: [\"2026-12-28..2027-01-05\"]\n"
                      "    schedule:\n"
                      "      - {block: [social], days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"18:00\", timezone: Asia/Tokyo}\n"
                      "      - {block: [games], days: [sat, sun, holiday], timezone: Asia/Tokyo}\n"
                      "      - {block: [shopping], until: \"2027-03-31\", timezone: Asia/Tokyo}\n"
                      "      - {block: [news], since: \"2027-04-01\", until: \"2027-04-01\", timezone: Asia/Tokyo}\n");
  const CompiledPolicy& p = snap->policies[0];
  REQUIRE(p.schedule.size() == 4);
  const CompiledSchedule& school = p.schedule[0];
  const CompiledSchedule& rest = p.schedule[1];
  // 2026-11-23 (Mon) is 勤労感謝の日: the weekday window does not run, the holiday one does.
  CHECK_FALSE(school.active_at(utc(2026, 11, 23, 1, 0), p.holidays));  // 10:00 Tokyo
  CHECK(rest.active_at(utc(2026, 11, 23, 1, 0), p.holidays));
  CHECK(school.active_at(utc(2026, 11, 24, 1, 0), p.holidays));  // Tuesday, a school day
  CHECK_FALSE(rest.active_at(utc(2026, 11, 24, 1, 0), p.holidays));
  // Without the policy's calendar the same Monday is a Monday.
  CHECK(school.active_at(utc(2026, 11, 23, 1, 0)));
  // The organisation's own closure (Tuesday 2026-12-29) and its last day, in Tokyo's date.
  CHECK_FALSE(school.active_at(utc(2026, 12, 29, 1, 0), p.holidays));
  CHECK(rest.active_at(utc(2027, 1, 5, 14, 59), p.holidays));        // 23:59 Tokyo on the 5th
  CHECK_FALSE(rest.active_at(utc(2027, 1, 5, 15, 0), p.holidays));   // 00:00 Tokyo on the 6th
  CHECK(school.active_at(utc(2027, 1, 6, 1, 0), p.holidays));
  // The override with an expiry: through 2027-03-31 in Tokyo, not after.
  const CompiledSchedule& until = p.schedule[2];
  CHECK(until.active_at(utc(2027, 3, 31, 14, 59), p.holidays));
  CHECK_FALSE(until.active_at(utc(2027, 3, 31, 15, 0), p.holidays));
  const CompiledSchedule& one_day = p.schedule[3];
  CHECK_FALSE(one_day.active_at(utc(2027, 3, 31, 15, 0) - 1, p.holidays));
  CHECK(one_day.active_at(utc(2027, 3, 31, 15, 0), p.holidays));
  CHECK_FALSE(one_day.active_at(utc(2027, 4, 1, 15, 0), p.holidays));
  CHECK(until.description == "daily 00:00-24:00 Asia/Tokyo until 2027-03-31");
}

TEST_CASE("schedules: bad dates and holiday-only entries without holidays are errors with their place") {
  std::vector<config::ConfigError> errors;
  compile("    calendar: [\"2026-02-30\", \"2027-01-05..2026-12-28\"]\n", &errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].path == "policies.p.calendar[0]");
  CHECK(errors[0].message.find("is not a date") != std::string::npos);
  CHECK(errors[1].path == "policies.p.calendar[1]");
  CHECK(errors[1].message.find("ends before it starts") != std::string::npos);
  errors.clear();
  compile("    schedule:\n"
          "      - {block: [games], days: [holiday]}\n",
          &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "policies.p.schedule[0].days");
  auto loaded = config::load_config_text("server: {listen: {dns: [\"127.0.0.1:0\"]}}\nupstreams: [127.0.0.1:53]\n"
                                         "policies: {p: {schedule: [{block: [games], until: \"2027-13-01\"}]}}\n",
                                         "bad.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.errors[0].message == "'2027-13-01' is not a date (YYYY-MM-DD)");
}
