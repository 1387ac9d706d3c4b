// tests/unit/utc_time.h — seconds since the epoch of a UTC wall-clock time, for tests that
// inject the time (schedules, time zones).
#pragma once

#include <time.h>

#include <cstdint>

namespace sekisho::test {

inline int64_t utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace sekisho::test
