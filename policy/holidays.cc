#include "policy/holidays.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>

#include "base/civil_date.h"

namespace sekisho::policy {
namespace {

constexpr int kFirstYear = 2000;
constexpr int kLastYear = 2099;

int64_t date(int y, unsigned m, unsigned d) { return base::days_from_civil(y, m, d); }

// The n-th Monday (1-based) of a month.
int64_t nth_monday(int y, unsigned m, unsigned n) {
  const int64_t first = date(y, m, 1);
  const unsigned to_monday = (7 - base::weekday_of(first)) % 7;
  return first + to_monday + 7 * (n - 1);
}

unsigned equinox_day(int y, double base_day) {
  return static_cast<unsigned>(std::floor(base_day + 0.242194 * (y - 1980) - std::floor((y - 1980) / 4.0)));
}

// The 国民の祝日 of one year (Art. 2 and the special laws), before 振替休日 and 国民の休日.
std::vector<int64_t> national_holidays(int y) {
  std::vector<int64_t> days = {date(y, 1, 1), nth_monday(y, 1, 2), date(y, 2, 11), date(y, 3, equinox_day(y, 20.8431)),
                               date(y, 4, 29), date(y, 5, 3), date(y, 5, 5), date(y, 9, equinox_day(y, 23.2488)),
                               date(y, 11, 3), date(y, 11, 23)};
  if (y <= 2018) days.push_back(date(y, 12, 23));
  if (y >= 2020) days.push_back(date(y, 2, 23));
  if (y >= 2007) days.push_back(date(y, 5, 4));
  days.push_back(y >= 2003 ? nth_monday(y, 9, 3) : date(y, 9, 15));
  // The Olympic special law (平成三十年法律第五十七号, 令和二年法律第六十八号) moved three holidays.
  if (y == 2020) {
    days.insert(days.end(), {date(y, 7, 23), date(y, 7, 24), date(y, 8, 10)});
  } else if (y == 2021) {
    days.insert(days.end(), {date(y, 7, 22), date(y, 7, 23), date(y, 8, 8)});
  } else {
    days.push_back(y >= 2003 ? nth_monday(y, 7, 3) : date(y, 7, 20));
    days.push_back(nth_monday(y, 10, 2));
    if (y >= 2016) days.push_back(date(y, 8, 11));
  }
  if (y == 2019) days.insert(days.end(), {date(y, 5, 1), date(y, 10, 22)});  // the enthronement law
  std::sort(days.begin(), days.end());
  return days;
}

constexpr size_t kDays = 36525;  // 2000-01-01 … 2099-12-31

std::bitset<kDays> build_table() {
  std::bitset<kDays> table;
  const int64_t origin = date(kFirstYear, 1, 1);
  for (int y = kFirstYear; y <= kLastYear; ++y) {
    const std::vector<int64_t> fixed = national_holidays(y);
    const auto is_fixed = [&](int64_t d) { return std::binary_search(fixed.begin(), fixed.end(), d); };
    for (int64_t d : fixed) table.set(static_cast<size_t>(d - origin));
    for (int64_t d : fixed) {
      // 国民の休日: the day after d, when it is no holiday and the next one is.
      if (!is_fixed(d + 1) && is_fixed(d + 2)) table.set(static_cast<size_t>(d + 1 - origin));
      if (base::weekday_of(d) != 6) continue;
      // 振替休日: from 2007 the first following day that is no holiday; before, the Monday.
      int64_t sub = d + 1;
      if (y >= 2007)
        while (is_fixed(sub)) ++sub;
      else if (is_fixed(sub)) continue;
      if (sub - origin < static_cast<int64_t>(kDays)) table.set(static_cast<size_t>(sub - origin));
    }
  }
  return table;
}

}  // namespace

bool is_japanese_holiday(int64_t day) {
  static const std::bitset<kDays> table = build_table();
  static const int64_t origin = date(kFirstYear, 1, 1);
  const int64_t i = day - origin;
  return i >= 0 && i < static_cast<int64_t>(kDays) && table.test(static_cast<size_t>(i));
}

HolidayCalendar::HolidayCalendar(config::HolidayRule rule, std::vector<std::pair<int64_t, int64_t>> ranges)
    : rule_(rule) {
  std::sort(ranges.begin(), ranges.end());
  for (const auto& r : ranges) {
    if (!ranges_.empty() && r.first <= ranges_.back().second + 1) ranges_.back().second = std::max(ranges_.back().second, r.second);
    else ranges_.push_back(r);
  }
  if (rule_ == config::HolidayRule::jp) is_japanese_holiday(0);  // the table, built here rather than by a query
}

bool HolidayCalendar::holiday(int64_t day) const {
  if (rule_ == config::HolidayRule::jp && is_japanese_holiday(day)) return true;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), day,
                             [](int64_t d, const std::pair<int64_t, int64_t>& r) { return d < r.first; });
  return it != ranges_.begin() && day <= std::prev(it)->second;
}

const HolidayCalendar& HolidayCalendar::none() {
  static const HolidayCalendar empty;
  return empty;
}

}  // namespace sekisho::policy
