// policy/querylog/writer.h — the query-log writer thread: rings → binary log files + statistics.
//
// Concurrency contract:
//   - add_ring() is called before start(), from the thread that builds the loops; each ring
//     then has exactly one producer (its loop) and one consumer (the writer thread).
//   - Producers only ever call QueryLogRing::try_push: no lock, no system call, no wake-up per
//     record, except that a ring reaching half its capacity wakes the writer (at most once per
//     writer pass). The writer thread polls the rings at most Options::wake_interval apart,
//     sooner at high rates: it sleeps until the busiest ring would be a sixteenth full (next_wait).
//   - set_tenant_names(), stats(), all_stats(), active_devices() and the counters may be
//     called from any thread at any time; they take the stats mutex (control plane only).
//   - start() and stop() are called from one controlling thread. stop() drains what the
//     producers pushed before it was called, then joins. The destructor calls stop().
//
// Invariants: producers are never blocked by the disk. When a write fails the records of that
// batch are dropped and counted in records_dropped_io, one rate-limited line goes to stderr and
// the file is reopened at most once per second; a slow disk makes the rings fill and drop
// (records_dropped_ring). Files hold whole frames only: a short write is truncated back to the
// last complete frame, and a torn tail left by a crash is cut off when the file is reopened.
// Records with log_mode == none are never written, only counted in stats.
//
// Files: <directory>/queries-YYYY-MM-DD.qlog (format: log_file.h), named after the UTC date of
// each record (not of the moment it is written), created 0640 in a directory created 0750. The
// writer stores records, not text: JSON is rendered where the log is read (the admin search,
// `sekisho querylog`), so the thread that shares a core with the serving loops does not format
// every query. Files older than retention_days are deleted once a day, JSON-lines files of
// earlier versions (queries-YYYY-MM-DD.jsonl) as well.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "policy/querylog/record.h"
#include "policy/querylog/ring.h"
#include "policy/querylog/stats.h"
#include "policy/store/categories.h"

namespace sekisho::querylog {

class QueryLogWriter {
 public:
  struct Options {
    std::string directory;           // e.g. /var/lib/sekisho/querylog
    bool write_files = true;         // false: statistics only
    uint32_t retention_days = 30;    // 0 = keep forever
    size_t ring_capacity = 8192;     // per add_ring(); rounded up to a power of two
    std::chrono::milliseconds wake_interval{50};
    StatsLimits stats;
    // Wall clock in µs since the epoch, for retention, device expiry and the hourly series.
    // Empty = system clock. Tests inject a fixed clock.
    std::function<int64_t()> now_us;
  };

  struct Counters {
    uint64_t records_written = 0;       // records written to files
    uint64_t records_dropped_ring = 0;  // sum of the rings' drops (producer side)
    uint64_t records_dropped_io = 0;    // popped but lost to a failing or unopenable file
    uint64_t records_not_logged = 0;    // log_mode none: counted in stats, never written
    uint64_t records_processed = 0;     // everything popped from the rings
    uint64_t write_errors = 0;          // failed open/write attempts
    uint64_t device_limit_crossings = 0;
    uint64_t files_deleted = 0;         // by retention
  };

  explicit QueryLogWriter(Options options);
  ~QueryLogWriter();
  QueryLogWriter(const QueryLogWriter&) = delete;
  QueryLogWriter& operator=(const QueryLogWriter&) = delete;

  // Before start() only. The writer owns the ring; the pointer stays valid until destruction.
  QueryLogRing* add_ring();

  void start();
  // Drains every ring, flushes, joins. Idempotent.
  void stop();

  // Replaces the tenant table (index i → ids[i], max_devices[i], 0 = unlimited; a missing
  // max_devices entry means 0). Statistics follow the tenant *id*, so they survive a reload that
  // renumbers tenants; tenants no longer present lose theirs. Records already in the rings are
  // attributed with the new table (a reload races at most one wake interval of records).
  void set_tenant_names(std::vector<std::string> ids, std::vector<uint32_t> max_devices);

  // The category registry of Runtime generation `generation` and later ones (until the next
  // call): a record names its category ids with the registry of the generation that decided
  // it (QueryRecord::generation), even when a reload changed them while it waited in a ring.
  // Call before publishing the generation. A registry the same as the previous one (a reload
  // that left the categories alone) adds nothing, so this grows only when the categories
  // change; records of generation 0 get the newest registry.
  void add_category_registry(uint64_t generation, std::shared_ptr<const policy::CategoryRegistry> registry);

  // Copies. A tenant index that has no statistics yet gives zeros with its id filled in.
  TenantStats stats(uint16_t tenant) const;
  std::optional<TenantStats> stats_by_id(std::string_view tenant_id) const;
  std::vector<TenantStats> all_stats() const;  // ordered by current tenant index
  uint64_t active_devices(uint16_t tenant) const;
  Counters counters() const;

 private:
  struct OpenFile;
  struct Pending;

  void run();
  size_t drain_once();  // returns the most records taken from one ring
  std::chrono::microseconds next_wait(size_t taken, std::chrono::steady_clock::duration since) const;
  void process(std::span<const QueryRecord> records);
  void write_pending();
  bool write_day(int64_t day, Pending& pending);
  // Null when the file cannot be opened (err set) or a retry is not yet due (err left 0).
  OpenFile* open_day(int64_t day, std::string& failed_path, int& err);
  int prepare_file(OpenFile& file);  // header / torn tail; errno or 0
  void close_old_files(int64_t newest_day);
  void maintain(int64_t now_us);
  void apply_retention(int64_t today);
  void report_io_error(const std::string& path, int err);
  TenantAccumulator* accumulator_for(uint16_t tenant);
  std::string tenant_id_for(uint16_t tenant) const;
  const policy::CategoryRegistry& registry_for(uint32_t generation) const;
  // The same without a copy; `scratch` holds the text of an index beyond the table.
  std::string_view tenant_id_view(uint16_t tenant, std::string& scratch) const;
  int64_t now_us() const;

  const Options options_;

  // Owned rings; only appended to before start().
  std::vector<std::unique_ptr<QueryLogRing>> rings_;

  std::thread thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool stop_requested_ = false;  // guarded by wake_mu_; tells run() to drain and exit
  std::atomic<bool> nudged_{false};  // a ring reached half its capacity: drain now
  void nudge();
  bool started_ = false;         // controlling thread only

  // Tenant table and statistics: written by the writer thread and set_tenant_names, read by
  // the control plane.
  mutable std::mutex stats_mu_;
  std::vector<std::string> tenant_ids_;
  std::vector<uint32_t> max_devices_;
  std::unordered_map<std::string, std::unique_ptr<TenantAccumulator>> by_id_;
  std::vector<TenantAccumulator*> by_index_;  // parallel to tenant_ids_; null until first record
  // (first generation, registry), ascending; kept for the process's life: records of any
  // generation may still be in a ring (a forwarded query keeps its Runtime until answered).
  std::vector<std::pair<uint32_t, std::shared_ptr<const policy::CategoryRegistry>>> registries_;

  // Writer-thread-only file state.
  std::map<int64_t, std::unique_ptr<Pending>> pending_;  // UTC day → frames of this batch
  // The day most records of a batch share, and its entry in pending_ (null: look it up).
  int64_t pending_day_ = 0;
  Pending* pending_current_ = nullptr;
  std::map<int64_t, std::unique_ptr<OpenFile>> files_;   // UTC day → open file
  std::chrono::steady_clock::time_point next_open_attempt_{};  // at most one retry per second
  std::chrono::steady_clock::time_point next_error_log_{};     // rate limit for stderr
  uint64_t errors_since_log_ = 0;
  bool in_error_ = false;  // last write or open failed; the next success logs a recovery line
  int64_t last_retention_day_ = INT64_MIN;
  int64_t last_device_expiry_s_ = 0;  // 0: the first pass sweeps (nothing to expire yet)

  std::atomic<uint64_t> records_written_{0};
  std::atomic<uint64_t> records_dropped_io_{0};
  std::atomic<uint64_t> records_not_logged_{0};
  std::atomic<uint64_t> records_processed_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> device_limit_crossings_{0};
  std::atomic<uint64_t> files_deleted_{0};
};

}  // namespace sekisho::querylog
