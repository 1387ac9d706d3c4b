// Which days a policy's schedules treat as day `holiday` (config::ScheduleSettings::days):
// Japan's national holidays computed by the rules of the National Holidays Act (国民の祝日に関
// する法律) — no downloaded data, nothing to update but this file when the law changes — and
// the organisation's own dates (`calendar`: school closures, company holidays).
//
// The Japanese rules, as in force for each year from 2000 to 2099 (outside that range no day
// is a national holiday: the equinox formula below is only defined there):
//   - fixed dates: 元日 1/1, 建国記念の日 2/11, 天皇誕生日 (12/23 until 2018, 2/23 from 2020),
//     昭和の日 4/29 (みどりの日 until 2006), 憲法記念日 5/3, みどりの日 5/4 (from 2007),
//     こどもの日 5/5, 山の日 8/11 (from 2016), 文化の日 11/3, 勤労感謝の日 11/23;
//     海の日 7/20 and 敬老の日 9/15 until 2002;
//   - Happy Monday: 成人の日 2nd Monday of January, スポーツの日 (体育の日) 2nd Monday of
//     October (from 2000), 海の日 3rd Monday of July and 敬老の日 3rd Monday of September
//     (from 2003);
//   - 春分の日 and 秋分の日 by the standard formula the National Astronomical Observatory's
//     dates follow for 1980–2099: floor(20.8431 + 0.242194 (y − 1980) − floor((y − 1980) / 4))
//     in March, floor(23.2488 + …) in September;
//   - 振替休日 (Art. 3 ¶2): a holiday on a Sunday moves to the nearest following day that is
//     not a holiday (before 2007: the Monday after);
//   - 国民の休日 (Art. 3 ¶3): a day that is not a holiday between two holidays;
//   - special laws, encoded as explicit exceptions: 2019's enthronement (5/1 and 10/22 holidays)
//     and the Tokyo Olympics' moves of 海の日, スポーツの日 and 山の日 in 2020 and 2021.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "config/settings.h"

namespace sekisho::policy {

// `day`: days since 1970-01-01 (base/civil_date.h). Allocation-free after the first call
// (a bitmap of 2000–2099 built once per process).
bool is_japanese_holiday(int64_t day);

// A policy's holidays: a national rule and its own dates (inclusive ranges, sorted by compile).
class HolidayCalendar {
 public:
  HolidayCalendar() = default;
  HolidayCalendar(config::HolidayRule rule, std::vector<std::pair<int64_t, int64_t>> ranges);

  bool holiday(int64_t day) const;
  bool empty() const { return rule_ == config::HolidayRule::none && ranges_.empty(); }
  static const HolidayCalendar& none();

 private:
  config::HolidayRule rule_ = config::HolidayRule::none;
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // merged, sorted by first day
};

}  // namespace sekisho::policy
