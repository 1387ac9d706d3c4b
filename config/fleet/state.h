// What a fleet node knows of the database, shared by the thread that follows it (follower.h),
// the configuration source (source.h), the admin API's writes and /metrics: the snapshot in use,
// whether the database is reachable, and the figures /metrics reports. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config/fleet/database.h"

namespace sekisho::config::fleet {

// The last good snapshot on disk: JSON, written atomically (temporary file, fsync, rename) with
// mode 0600 since documents hold device tokens.
std::string save_snapshot(const std::string& path, const Snapshot& s);
// nullopt with `error` set when missing or unreadable.
std::optional<Snapshot> load_snapshot(const std::string& path, std::string& error);
// fleet.snapshot, else $STATE_DIRECTORY/fleet-snapshot.json, else beside the main file.
std::string snapshot_path(const FleetSettings& s, const std::string& main_config);

struct FleetStatus {
  bool connected = false;          // 0: running on the last snapshot
  int64_t generation = 0;          // of the snapshot in use
  uint64_t applied_total = 0;      // snapshots applied since start
  uint64_t disconnects_total = 0;
  double last_apply_seconds = 0;   // NOTIFY received → new configuration published
  double last_commit_to_apply_seconds = 0;  // the writer's commit (database clock) → published
};

class FleetState {
 public:
  FleetState(FleetSettings settings, std::string main_config)
      : settings_(std::move(settings)), main_config_(std::move(main_config)), node_(node_name(settings_)) {}

  const FleetSettings& settings() const { return settings_; }
  const std::string& main_config() const { return main_config_; }
  const std::string& node() const { return node_; }

  std::shared_ptr<const Snapshot> snapshot() const;
  void set_snapshot(std::shared_ptr<const Snapshot> s);
  // A document this node just wrote, in place before the NOTIFY's re-read, so the write's own
  // reload already sees it. Ignored when the snapshot already holds a newer version.
  void put_local(const std::string& id, const std::string* text, int64_t version);

  std::atomic<bool> connected{false};
  std::atomic<uint64_t> applied_total{0};
  std::atomic<uint64_t> disconnects_total{0};
  std::atomic<int64_t> last_apply_us{0};
  std::atomic<int64_t> last_commit_to_apply_us{0};
  FleetStatus status() const;

 private:
  const FleetSettings settings_;
  const std::string main_config_;
  const std::string node_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<Snapshot>();
};

}  // namespace sekisho::config::fleet
