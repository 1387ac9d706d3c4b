// feed/service.h — sekisho-feed's work: every configured feed kept current in the category
// store: RPZ feeds on the SOA's timers (RFC 1035 §3.3.13 refresh / retry / expire) and at once
// on NOTIFY; HTTP list feeds every `refresh`, retried with exponential back-off and jitter.
//
// One thread, one transfer at a time: the process is the store's only feed writer, and LMDB
// allows one write transaction at a time anyway (a `sekisho db import` meanwhile waits for
// the writer lock, or we wait for it). sekishod reads the store throughout and sees each
// committed serial at its next batch. Control plane: failures are kept in the feed's status
// and the log, and never stop the other feeds.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.h"
#include "base/random.h"
#include "feed/list_feed.h"
#include "feed/rpz_apply.h"
#include "feed/status.h"
#include "feed/xfr.h"
#include "policy/store/store_writer.h"

namespace sekisho::feed {

class FeedService {
 public:
  // Checks the feeds (categories known, keys readable, primaries parse); throws
  // std::runtime_error listing every problem.
  explicit FeedService(const config::Settings& settings);
  ~FeedService();

  // Refreshes every feed once; returns the number that failed or were refused.
  int run_once();
  // Until `stop` is set: timers and NOTIFY. `ready` is called once the listeners are bound.
  void run(volatile std::sig_atomic_t& stop, const std::function<void()>& ready);

 private:
  struct Feed;
  void refresh(Feed& f, const char* why);
  // One attempt of each kind; they throw what failed (policy::UpdateRefused: the guard refused).
  void refresh_rpz(Feed& f, const char* why, int64_t now);
  void refresh_list(Feed& f, const char* why, int64_t now);
  void check_expiry(Feed& f, int64_t now);
  void save(Feed& f);

  std::unique_ptr<policy::CategoryRegistry> registry_;
  std::unique_ptr<policy::StoreWriter> writer_;
  std::vector<std::unique_ptr<Feed>> feeds_;
  std::vector<net::SocketAddress> notify_listen_;
  std::string state_dir_;
  Random random_;  // the back-off's jitter
};

}  // namespace sekisho::feed
