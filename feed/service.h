// feed/service.h — sekisho-feed's work: every configured feed kept current in the category
// store, on the SOA's timers (RFC 1035 §3.3.13 refresh / retry / expire) and at once on NOTIFY.
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

  // Refreshes every feed once; returns the number that failed.
  int run_once();
  // Until `stop` is set: timers and NOTIFY. `ready` is called once the listeners are bound.
  void run(volatile std::sig_atomic_t& stop, const std::function<void()>& ready);

  // The import guard's seam (branch feed-guard): asked before every full (AXFR) replacement.
  void set_replace_guard(ReplaceGuard guard) { guard_ = std::move(guard); }

 private:
  struct Feed;
  void refresh(Feed& f, const char* why);
  void check_expiry(Feed& f, int64_t now);
  void save(Feed& f);

  std::unique_ptr<policy::CategoryRegistry> registry_;
  std::unique_ptr<policy::StoreWriter> writer_;
  std::vector<std::unique_ptr<Feed>> feeds_;
  std::vector<net::SocketAddress> notify_listen_;
  std::string state_dir_;
  ReplaceGuard guard_;
};

}  // namespace sekisho::feed
