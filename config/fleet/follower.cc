#include "config/fleet/follower.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "base/log.h"
#include "config/fleet/database.h"

namespace sekisho::config::fleet {
namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr int64_t kFirstRetryMs = 250;
constexpr int64_t kHeartbeatUs = 5'000'000;  // also how soon a silently dead connection is noticed

}  // namespace

Follower::Follower(std::shared_ptr<FleetState> state, std::function<bool()> apply)
    : state_(std::move(state)), apply_(std::move(apply)), fetched_generation_(state_->snapshot()->generation) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

Follower::~Follower() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
}

bool Follower::wait_for(int64_t ms) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
}

void Follower::run() {
  const FleetSettings& s = state_->settings();
  std::mt19937 jitter(std::random_device{}());
  int64_t backoff = kFirstRetryMs;
  bool announced = false;  // "running on last snapshot" logged for this outage
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
    }
    Database db(s, "sekishod " + state_->node());
    if (db.ok() && db.listen()) {
      backoff = kFirstRetryMs;
      announced = false;
      if (!follow(db)) return;
    }
    const bool was_connected = state_->connected.exchange(false);
    if (was_connected) state_->disconnects_total.fetch_add(1);
    if (was_connected || !announced) {
      log::warning("fleet", "database unreachable: running on last snapshot",
                   {{"generation", state_->snapshot()->generation}, {"node", state_->node()}, {"error", db.error()}});
      announced = true;
    }
    const int64_t wait = std::uniform_int_distribution<int64_t>(backoff / 2, backoff)(jitter);
    if (!wait_for(wait)) return;
    backoff = std::min<int64_t>(backoff * 2, s.retry_max_ms);
  }
}

bool Follower::follow(Database& db) {
  if (!apply(db, 0, 0) && !db.ok()) return true;
  state_->connected = true;
  log::info("fleet", "database connected; following changes",
            {{"generation", state_->snapshot()->generation}, {"node", state_->node()}});
  int64_t last_heartbeat = steady_us();
  PGconn* conn = db.connection();
  for (;;) {
    // Notifications a query of ours read along with its answer wait here already.
    int64_t commit_ms = -1;
    while (PGnotify* n = PQnotifies(conn)) {
      const char* space = n->extra ? std::strchr(n->extra, ' ') : nullptr;
      commit_ms = std::max<int64_t>(commit_ms, space ? std::strtoll(space + 1, nullptr, 10) : 0);
      PQfreemem(n);
    }
    if (commit_ms >= 0) {
      if (!apply(db, commit_ms, steady_us()) && !db.ok()) return true;
      continue;
    }
    if (steady_us() - last_heartbeat >= kHeartbeatUs) {
      if (!db.record_node(state_->node(), fetched_generation_)) return true;
      last_heartbeat = steady_us();
      continue;
    }
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return true;
    if (fds[1].revents) return false;
    if (fds[0].revents && (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)) return true;
  }
}

bool Follower::apply(Database& db, int64_t commit_ms, int64_t received_us) {
  auto fetched = db.snapshot();
  if (!fetched) {
    log::error("fleet", "cannot read the snapshot", {{"error", db.error()}});
    return false;
  }
  if (fetched->generation == fetched_generation_) return true;
  const int64_t generation = fetched->generation;
  const size_t tenants = fetched->tenants.size();
  auto snapshot = std::make_shared<const Snapshot>(std::move(*fetched));
  auto previous = state_->snapshot();
  state_->set_snapshot(snapshot);
  fetched_generation_ = generation;  // a refused snapshot is not retried until the next change
  if (!apply_()) {
    state_->set_snapshot(previous);
    log::error("fleet", "the fleet's configuration is invalid on this node; keeping the running one",
               {{"generation", generation}});
    return true;
  }
  const int64_t done_us = steady_us();
  if (received_us > 0) state_->last_apply_us = done_us - received_us;
  if (commit_ms > 0) state_->last_commit_to_apply_us = std::max<int64_t>(0, (wall_ms() - commit_ms) * 1000);
  state_->applied_total.fetch_add(1);
  const std::string path = snapshot_path(state_->settings(), state_->main_config());
  if (std::string e = save_snapshot(path, *snapshot); !e.empty())
    log::error("fleet", "cannot save the snapshot", {{"path", path}, {"error", e}});
  log::info("fleet", "snapshot applied",
            {{"generation", generation}, {"tenants", tenants},
             {"notify_to_applied_us", received_us > 0 ? done_us - received_us : 0},
             {"commit_to_applied_ms", commit_ms > 0 ? wall_ms() - commit_ms : 0}});
  db.record_node(state_->node(), generation);
  return true;
}

}  // namespace sekisho::config::fleet
