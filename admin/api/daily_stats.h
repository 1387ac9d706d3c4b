// Per-tenant daily totals (queries, blocked) kept for kKeepDays UTC days across restarts.
//
// The query-log writer's statistics live in memory and hold 48 hours (querylog/stats.h); this
// adds the days before, from those same hourly buckets, in one small file per tenant:
//   <directory>/<tenant>.jsonl   one line per UTC day, oldest first:
//   {"date":"2026-11-24","queries":1234,"blocked":56}
// The admin thread calls persist() every few minutes and once at shutdown, never from a
// request: a request only reads (merge()). A day's total is the file's value when the process
// started plus what the in-memory hours hold for that day, and never decreases (a tenant
// removed and re-added by a reload restarts its in-memory counters). A day's hours stay in
// memory for 24 hours after it ends, so a persist in that time records the finished day whole.
// Lines that do not parse are skipped with a warning; the rest of the file still counts, and the
// original is kept as <tenant>.jsonl.bad before the first rewrite.
//
// Not thread-safe: one thread (the admin loop) uses it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/querylog/stats.h"

namespace sekisho::admin {

struct DayTotal {
  int64_t day = 0;  // days since the epoch (UTC)
  uint64_t queries = 0;
  uint64_t blocked = 0;
};

class DailyStats {
 public:
  static constexpr int64_t kKeepDays = 90;

  // Empty directory: nothing is read or written; days come from memory only (48 hours).
  explicit DailyStats(std::string directory) : directory_(std::move(directory)) {}

  // Days first_day..last_day (inclusive, oldest first, zero-filled) for one tenant: the files'
  // totals merged with `live` (the writer's current snapshot of that tenant).
  std::vector<DayTotal> series(const querylog::TenantStats& live, int64_t first_day, int64_t last_day);

  // Merges every tenant's snapshot into its days and rewrites the files that changed. Returns
  // the number of files written; errors are logged and retried on the next call.
  size_t persist(const std::vector<querylog::TenantStats>& snapshot, int64_t today);

  const std::string& directory() const { return directory_; }

 private:
  struct Totals {
    uint64_t queries = 0;
    uint64_t blocked = 0;
  };
  struct Tenant {
    std::map<int64_t, Totals> base;  // the file as read at first use
    std::map<int64_t, Totals> days;  // what the file holds now (or will after the next write)
    bool dirty = false;
    bool bad_lines = false;  // the file had lines we skipped: kept as <tenant>.jsonl.bad on rewrite
  };
  Tenant& tenant(const std::string& id);
  // Folds the in-memory hours into t.days; true when some day grew.
  static bool merge(Tenant& t, const querylog::TenantStats& live);
  bool write(const std::string& id, Tenant& t, int64_t today);

  std::string directory_;
  std::unordered_map<std::string, Tenant> tenants_;
};

// Where the daily files go: $STATE_DIRECTORY/stats (systemd's StateDirectory), else
// <querylog directory>/stats; empty when neither is set.
std::string daily_stats_directory(const std::string& querylog_directory);

}  // namespace sekisho::admin
