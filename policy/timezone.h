// UTC offsets of an IANA time zone (Asia/Tokyo, Europe/Berlin …) for schedule windows.
//
// Built in the control plane from the system tzdb (/usr/share/zoneinfo) through Howard Hinnant's
// date library (date/tz.h), never through the TZ environment variable. A reload compiles a table
// of the zone's offset changes from a day before `now` to kTableDays after it; lookups on the
// query path are a binary search over that table (no allocation, no locale or environment
// access). Past the table's end nothing stops: the offset is computed from the zone's rules on
// the spot (slower, still allocation-free) until the next reload builds a new table.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sekisho::policy {

class TimeZone {
 public:
  // About ten years: more than any realistic time between two reloads (or restarts), for ~20
  // changes in a zone with daylight saving time and ~80 buckets.
  static constexpr int64_t kTableDays = 3660;
  static constexpr int kBucketShift = 22;  // 2^22 s, 48.5 days: never more than a few changes

  // Reads the system tzdb; any thread may call it (nothing process-wide changes).
  static std::optional<TimeZone> load(const std::string& name, int64_t now_utc, std::string& why);
  static TimeZone utc();

  // Seconds east of UTC. Safe to call from any number of threads at once.
  int32_t offset_at(int64_t utc_seconds) const;
  const std::string& name() const { return name_; }

  struct Rules;  // the zone as the tzdb describes it, for times outside the table (timezone.cc)

 private:
  int32_t offset_outside_table(int64_t utc_seconds) const;

  std::string name_;
  // offsets_[i] holds from change_at_[i] up to change_at_[i + 1]; change_at_ ends with INT64_MAX.
  std::vector<int64_t> change_at_;
  std::vector<int32_t> offsets_;
  // The table covers [table_begin_, table_begin_ + table_span_), cut in buckets of 2^bucket_shift_
  // seconds; first_in_bucket_[b] is the index of the offset holding at bucket b's start, so a
  // lookup is one shift and, within a bucket (~48 days), at most the one or two changes it holds.
  std::vector<uint16_t> first_in_bucket_;
  int64_t table_begin_ = 0;
  uint64_t table_span_ = 0;
  int bucket_shift_ = 63;
  std::shared_ptr<const Rules> rules_;  // null for UTC
};

}  // namespace sekisho::policy
