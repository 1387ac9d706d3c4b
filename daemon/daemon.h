// The composition root of sekishod: one configuration source, the engine, and the admin
// service, wired together. Reload is the one path every change takes, from SIGHUP and from
// the admin API alike: read the source → compile (policy/configuration.h) → Engine::publish.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config/source.h"
#include "policy/configuration.h"
#include "resolver/engine.h"

namespace sekisho::admin {
class Service;
}
namespace sekisho::config::fleet {
class FleetState;
class Follower;
}

namespace sekisho::daemon {

class Daemon {
 public:
  // `first` is what `source` read at start-up (already checked: ok()). Opens the category
  // store (throws with the path and reason).
  Daemon(std::unique_ptr<config::ConfigSource> source, policy::Configuration first);
  ~Daemon();

  // Binds, starts the admin service and the loops, serves until SIGTERM. Returns the exit code.
  int run();
  // Re-reads the source and publishes it; an invalid configuration is logged and the running
  // one kept. Returns the generation in use afterwards. Thread-safe.
  uint64_t reload();

  resolver::Engine& engine() { return engine_; }

 private:
  // reload(), with what happened in `outcome` ("ok", or why the running configuration stayed).
  uint64_t reload(std::string& outcome);
  // A reload by SIGHUP (systemctl reload, kill -HUP), recorded in the audit log with its
  // outcome; the admin API records the reloads it makes itself.
  void reload_by_signal();
  void start_admin_service();

  std::unique_ptr<config::ConfigSource> source_;
  config::Settings startup_;  // what the admin service was started with
  resolver::Engine engine_;
  std::mutex reload_mutex_;
  std::shared_ptr<config::fleet::FleetState> fleet_;  // a fleet node's (the source is a FleetSource)
  std::unique_ptr<config::fleet::Follower> follower_;
  std::unique_ptr<admin::Service> admin_;  // stops before the engine's loops drain
};

}  // namespace sekisho::daemon
