// The thread that keeps a fleet node in step with the database: connect, LISTEN, read the
// snapshot, apply it (save it to disk, then `apply` — sekishod's reload), and again on every
// NOTIFY. Nothing here runs on a DNS loop: a database that hangs or vanishes delays only this
// thread; DNS keeps answering from the configuration already published.
//
// On a lost connection the node logs "running on last snapshot" (once), FleetState::connected
// turns false (admin writes answer 503, /metrics says so), and the thread reconnects with
// back-off (250 ms doubling to fleet.retry_max_ms, with jitter); once back it re-reads the
// snapshot, so changes made meanwhile by other nodes arrive by themselves.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "config/fleet/state.h"

namespace sekisho::config::fleet {

class Follower {
 public:
  // `apply` publishes the snapshot now in `state` and returns whether the configuration it
  // makes was valid and is in use (false: `state` gets the previous snapshot back).
  Follower(std::shared_ptr<FleetState> state, std::function<bool()> apply);
  ~Follower();  // stops and joins the thread
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

 private:
  void run();
  // Connected: listens and follows until the connection fails or stop. Returns false on stop.
  bool follow(class Database& db);
  bool apply(class Database& db, int64_t notified_commit_ms, int64_t received_us);
  bool wait_for(int64_t ms);  // false when stopping

  std::shared_ptr<FleetState> state_;
  std::function<bool()> apply_;
  int64_t fetched_generation_ = -1;
  int wake_fd_ = -1;  // eventfd: stop
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sekisho::config::fleet
