// tests/unit/policy/timezone_test.cc — time zone offsets from the system tzdb: the table a reload
// builds and the rules used outside it agree to the second, daylight saving time keeps changing
// past the table's end and past the zone files' last listed transition (2037), names outside the
// tzdb are refused, and lookups from many threads at once need no lock.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "policy/timezone.h"
#include "tests/unit/utc_time.h"

using sekisho::policy::TimeZone;
using sekisho::test::utc;

namespace {

// Day of month of the n-th (1-based; 5 = last) Sunday of a month.
int sunday(int year, int month, int n) {
  const int first = 1 + (7 - static_cast<int>((utc(year, month, 1) / 86400 + 4) % 7)) % 7;  // 1970-01-01 was a Thursday
  int day = first + 7 * (n - 1);
  if (n == 5) {
    const int64_t next_month = utc(year + month / 12, month % 12 + 1, 1);
    const int days_in_month = static_cast<int>((next_month - utc(year, month, 1)) / 86400);
    while (day > days_in_month) day -= 7;
  }
  return day;
}

TimeZone load(const char* name, int64_t now) {
  std::string why;
  auto z = TimeZone::load(name, now, why);
  REQUIRE_MESSAGE(z, why);
  return *z;
}

}  // namespace

TEST_CASE("time zone: daylight saving time to the second, inside the table, past it and past 2037") {
  const int64_t reload = utc(2026, 11, 23);
  const TimeZone berlin = load("Europe/Berlin", reload);
  const TimeZone new_york = load("America/New_York", reload);
  // Through 2045: the table covers ten years from the reload, the rules the rest; the zone files
  // list transitions up to 2037 and their POSIX rule describes the years after.
  for (int year = 2026; year <= 2045; ++year) {
    CAPTURE(year);
    // EU: summer time from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last of October.
    const int64_t eu_on = utc(year, 3, sunday(year, 3, 5), 1), eu_off = utc(year, 10, sunday(year, 10, 5), 1);
    CHECK(berlin.offset_at(eu_on - 1) == 3600);
    CHECK(berlin.offset_at(eu_on) == 7200);
    CHECK(berlin.offset_at(eu_off - 1) == 7200);
    CHECK(berlin.offset_at(eu_off) == 3600);
    // US: 02:00 local on the second Sunday of March to 02:00 local on the first of November.
    const int64_t us_on = utc(year, 3, sunday(year, 3, 2), 7), us_off = utc(year, 11, sunday(year, 11, 1), 6);
    CHECK(new_york.offset_at(us_on - 1) == -5 * 3600);
    CHECK(new_york.offset_at(us_on) == -4 * 3600);
    CHECK(new_york.offset_at(us_off - 1) == -4 * 3600);
    CHECK(new_york.offset_at(us_off) == -5 * 3600);
  }
  // A time before the table (the clock set back, or a compile with an old `now`) is computed too.
  CHECK(berlin.offset_at(utc(2020, 7, 1)) == 7200);
  CHECK(load("Europe/Berlin", 0).offset_at(utc(2026, 7, 1, 12)) == 7200);
}

TEST_CASE("time zone: the table agrees with the zone's rules at every quarter hour for ten years") {
  const int64_t reload = utc(2026, 11, 23, 13, 7);
  for (const char* name : {"Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe", "Africa/Casablanca",
                           "Asia/Jerusalem", "Pacific/Chatham", "Asia/Tokyo", "America/St_Johns"}) {
    CAPTURE(name);
    const TimeZone table = load(name, reload);
    // Loaded twenty years later, every time asked here lies before its table: computed from the rules.
    const TimeZone rules = load(name, reload + 20 * 365 * 86400LL);
    int changes = 0;
    int32_t last = table.offset_at(reload - 86400);
    for (int64_t t = reload - 86400; t < reload + TimeZone::kTableDays * 86400; t += 900) {
      const int32_t o = table.offset_at(t);
      if (o != rules.offset_at(t) || table.offset_at(t - 1) != rules.offset_at(t - 1)) {
        FAIL_CHECK("differs at " << t << ": table " << o << ", rules " << rules.offset_at(t));
        break;
      }
      changes += o != last;
      last = o;
    }
    if (std::string(name) == "Europe/Berlin") CHECK(changes == 20);
    if (std::string(name) == "Asia/Tokyo") CHECK(changes == 0);
  }
}

TEST_CASE("time zone: only the tzdb's zone names are accepted") {
  std::string why;
  for (const char* name : {"Mars/Olympus_Mons", "Asia/Tokio", "", "../../etc/passwd", "/etc/localtime",
                           "zone.tab", "posix/Asia/Tokyo", "Asia/"}) {
    CAPTURE(name);
    why.clear();
    CHECK_FALSE(TimeZone::load(name, utc(2026, 1, 1), why));
    CHECK(why.find("unknown time zone '" + std::string(name) + "'") != std::string::npos);
  }
  CHECK(load("UTC", 0).offset_at(INT64_MIN) == 0);
  CHECK(load("Etc/UTC", 0).offset_at(INT64_MAX) == 0);
  CHECK(TimeZone::utc().offset_at(utc(2040, 7, 1)) == 0);
  CHECK(load("Etc/GMT-14", utc(2026, 1, 1)).offset_at(utc(2026, 6, 1)) == 14 * 3600);
}

TEST_CASE("time zone: lookups from many threads at once, inside and outside the table") {
  const TimeZone berlin = load("Europe/Berlin", utc(2026, 11, 23));
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        wrong[k] += berlin.offset_at(utc(2027, 7, 1) + i) != 7200;
        wrong[k] += berlin.offset_at(utc(2050, 1, 1) + i) != 3600;  // outside: from the rules
      }
    });
  for (auto& t : threads) t.join();
  for (int w : wrong) CHECK(w == 0);
}
