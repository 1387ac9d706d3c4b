#include "policy/timezone.h"

#include <date/date.h>
#include <date/tz.h>

// date/ptz.h (3.0.1) names hh_mm_ss unqualified where both `using namespace date` and `using
// namespace std::chrono` are in force, which C++20 (std::chrono::hh_mm_ss) makes ambiguous: give
// date's a name of its own while the header is read.
namespace date {
template <class Duration>
using ptz_hh_mm_ss = hh_mm_ss<Duration>;
}  // namespace date
#define hh_mm_ss ptz_hh_mm_ss
#include <date/ptz.h>
#undef hh_mm_ss

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>

namespace sekisho::policy {
namespace {

using std::chrono::seconds;

// date::sys_info ends its last period at year::max(); anything past this is "no listed end".
constexpr int64_t kFarFuture = 253402300800;  // 10000-01-01T00:00:00Z
// Calendar arithmetic in date/ptz.h works on years in [-32767, 32767]: clamp what we ask.
constexpr int64_t kEarliest = -62135596800;  // 0001-01-01
constexpr int64_t kLatest = 253370764800;    // 9999-01-01

// The POSIX TZ rule a TZif version 2+ file ends with ("CET-1CEST,M3.5.0,M10.5.0/3"): it tells
// the offsets after the last listed transition. date 3.0.1 reading the system tzdb does not use
// it, so on its own it would keep the last listed offset forever (standard time from 2038 on with
// Debian's "fat" files, and much sooner with "slim" files, which list fewer transitions).
std::string posix_rule_of(const std::string& zone_name) {
  std::ifstream in("/usr/share/zoneinfo/" + zone_name, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 6 || data.compare(0, 4, "TZif") != 0 || data[4] < '2' || data.back() != '\n') return {};
  const size_t start = data.rfind('\n', data.size() - 2);
  return start == std::string::npos ? std::string{} : data.substr(start + 1, data.size() - start - 2);
}

}  // namespace

struct TimeZone::Rules {
  // The date library never reloads the system tzdb: the zone lives as long as the process.
  const date::time_zone* zone = nullptr;
  std::optional<Posix::time_zone> after_listed;  // the file's POSIX rule, past its last listed transition

  struct Span {
    int32_t offset;
    int64_t end;  // the next change (or kFarFuture)
  };

  // Allocation-free for abbreviations up to 15 characters (std::string's small buffer; the
  // tzdb's are 3-6): this runs on the query path past the table's end.
  Span at(int64_t t) const {
    const date::sys_seconds when{seconds{std::clamp(t, kEarliest, kLatest)}};
    date::sys_info info = zone->get_info(when);
    if (after_listed && info.end.time_since_epoch().count() >= kFarFuture) info = after_listed->get_info(when);
    return {static_cast<int32_t>(info.offset.count()), info.end.time_since_epoch().count()};
  }
};

TimeZone TimeZone::utc() {
  TimeZone z;
  z.name_ = "UTC";
  z.change_at_ = {INT64_MIN, INT64_MAX};
  z.offsets_ = {0};
  // One table for all of time: since >> 63 is 0 or 1.
  z.table_begin_ = INT64_MIN;
  z.table_span_ = UINT64_MAX;
  z.bucket_shift_ = 63;
  z.first_in_bucket_ = {0, 0};
  return z;
}

std::optional<TimeZone> TimeZone::load(const std::string& name, int64_t now_utc, std::string& why) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  auto rules = std::make_shared<Rules>();
  try {
    // Only names of the tzdb's zones (a walk of /usr/share/zoneinfo, without posix/ and right/)
    // are found: nothing else is read as a path.
    rules->zone = date::locate_zone(name);
  } catch (const std::exception&) {
    why = "unknown time zone '" + name + "' (not in the system time zone database, /usr/share/zoneinfo)";
    return std::nullopt;
  }
  if (std::string rule = posix_rule_of(rules->zone->name()); !rule.empty()) {
    try {
      rules->after_listed.emplace(rule);
    } catch (const std::exception&) {
      // A rule date/ptz.h cannot read (negative transition hours: America/Nuuk, Godthab,
      // Scoresbysund): their listed transitions still hold, which Debian's files list to 2037.
    }
  }

  TimeZone z;
  z.name_ = name;
  z.rules_ = rules;
  z.table_begin_ = now_utc - 86400;
  z.table_span_ = static_cast<uint64_t>(kTableDays + 1) * 86400;
  z.bucket_shift_ = kBucketShift;
  const int64_t table_end = z.table_begin_ + static_cast<int64_t>(z.table_span_);
  Rules::Span span = rules->at(z.table_begin_);
  z.change_at_.push_back(INT64_MIN);
  z.offsets_.push_back(span.offset);
  for (int64_t t = span.end; t < table_end;) {
    const Rules::Span next = rules->at(t);
    if (next.offset != z.offsets_.back()) {
      z.change_at_.push_back(t);
      z.offsets_.push_back(next.offset);
    }
    if (next.end <= t) break;  // never: the tzdb's periods move forward
    t = next.end;
  }
  z.change_at_.push_back(INT64_MAX);
  size_t i = 0;
  for (uint64_t since = 0; since < z.table_span_; since += uint64_t{1} << kBucketShift) {
    while (z.change_at_[i + 1] <= z.table_begin_ + static_cast<int64_t>(since)) ++i;
    z.first_in_bucket_.push_back(static_cast<uint16_t>(i));
  }
  return z;
}

int32_t TimeZone::offset_at(int64_t utc_seconds) const {
  // Unsigned, so that one comparison catches both ends (and the subtraction cannot overflow).
  const uint64_t since = static_cast<uint64_t>(utc_seconds) - static_cast<uint64_t>(table_begin_);
  if (since >= table_span_) [[unlikely]]
    return offset_outside_table(utc_seconds);
  size_t i = first_in_bucket_[since >> bucket_shift_];
  while (change_at_[i + 1] <= utc_seconds) ++i;
  return offsets_[i];
}

int32_t TimeZone::offset_outside_table(int64_t utc_seconds) const {
  return rules_ ? rules_->at(utc_seconds).offset : offsets_.front();
}

}  // namespace sekisho::policy
