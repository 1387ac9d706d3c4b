// UTC offsets of an IANA time zone (Asia/Tokyo, Europe/Berlin …) for schedule windows.
//
// Built in the control plane from the system zoneinfo through glibc (so DST rules, including
// the POSIX rule past the last listed transition, are glibc's), as a table of offset changes
// from a day before `now` to kHorizonDays after it. Lookups on the query path are a binary
// search over that table: no allocation, no locale or TZ environment access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sekisho::policy {

class TimeZone {
 public:
  static constexpr int64_t kHorizonDays = 400;  // a configuration reload rebuilds the table

  // Not thread-safe against other threads calling localtime(): call from the control thread.
  static std::optional<TimeZone> load(const std::string& name, int64_t now_utc, std::string& why);
  static TimeZone utc();

  int32_t offset_at(int64_t utc_seconds) const;  // seconds east of UTC
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::vector<int64_t> change_at_;   // UTC second at which offsets_[i] starts
  std::vector<int32_t> offsets_;
};

}  // namespace sekisho::policy
