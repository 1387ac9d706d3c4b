// Calendar dates as day counts from 1970-01-01 (proleptic Gregorian, H. Hinnant's algorithms):
// integer arithmetic only, no time zone, no allocation. The query log's file names and dates,
// schedule dates and the holiday calendar all count days this way.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sekisho::base {

struct CivilDate {
  int64_t year;
  unsigned month;  // 1–12
  unsigned day;    // 1–31
};

CivilDate civil_from_days(int64_t days);
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);
// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
inline unsigned weekday_of(int64_t days) { return static_cast<unsigned>(((days % 7) + 7 + 3) % 7); }

// "YYYY-MM-DD", a valid date → its day count.
std::optional<int64_t> parse_date(std::string_view text);

}  // namespace sekisho::base
