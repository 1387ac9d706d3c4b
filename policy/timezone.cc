#include "policy/timezone.h"

#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace sekisho::policy {
namespace {

int32_t offset_now(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm local {};
  localtime_r(&tt, &local);
  return static_cast<int32_t>(local.tm_gmtoff);
}

// Restores the process TZ when the table is built, whatever happens.
class ScopedTz {
 public:
  explicit ScopedTz(const std::string& zone) {
    if (const char* old = std::getenv("TZ")) saved_ = old;
    had_ = std::getenv("TZ") != nullptr;
    setenv("TZ", (":" + zone).c_str(), 1);
    tzset();
  }
  ~ScopedTz() {
    if (had_) setenv("TZ", saved_.c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }

 private:
  std::string saved_;
  bool had_ = false;
};

}  // namespace

TimeZone TimeZone::utc() {
  TimeZone z;
  z.name_ = "UTC";
  z.change_at_.push_back(INT64_MIN);
  z.offsets_.push_back(0);
  return z;
}

std::optional<TimeZone> TimeZone::load(const std::string& name, int64_t now_utc, std::string& why) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  // glibc quietly uses UTC for a zone it cannot find: check the file ourselves.
  const bool safe = !name.empty() && name.find("..") == std::string::npos && name.front() != '/';
  std::error_code ec;
  if (!safe || !std::filesystem::is_regular_file("/usr/share/zoneinfo/" + name, ec)) {
    why = "unknown time zone '" + name + "' (no /usr/share/zoneinfo/" + name + ")";
    return std::nullopt;
  }
  TimeZone z;
  z.name_ = name;
  ScopedTz scoped(name);
  const int64_t start = now_utc - 86400;
  const int64_t end = now_utc + kHorizonDays * 86400;
  int32_t current = offset_now(start);
  z.change_at_.push_back(INT64_MIN);
  z.offsets_.push_back(current);
  // Offsets change at most a few times a year and never twice within an hour: probe hourly,
  // then bisect each change to the second.
  for (int64_t t = start + 3600; t <= end; t += 3600) {
    int32_t o = offset_now(t);
    if (o == current) continue;
    int64_t lo = t - 3600, hi = t;  // offset at lo is `current`, at hi is `o`
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      (offset_now(mid) == current ? lo : hi) = mid;
    }
    z.change_at_.push_back(hi);
    z.offsets_.push_back(o);
    current = o;
  }
  return z;
}

int32_t TimeZone::offset_at(int64_t utc_seconds) const {
  auto it = std::upper_bound(change_at_.begin(), change_at_.end(), utc_seconds);
  size_t i = static_cast<size_t>(it - change_at_.begin());
  return offsets_[i == 0 ? 0 : i - 1];
}

}  // namespace sekisho::policy
