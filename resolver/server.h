// The sekishod process: binds the sockets, runs one Worker per thread, and owns what they
// share (the answer cache, the published Runtime, the TCP connection count). The main
// thread runs a small control loop for signals and the systemd watchdog:
//   SIGHUP  → reload the config file and the TLS certificate; on any error keep serving the old one
//   SIGTERM → stop accepting, let in-flight queries finish (drain_timeout_ms), exit 0
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/config/configuration.h"
#include "policy/querylog/writer.h"
#include "policy/store/category_store.h"
#include "resolver/cache/cache.h"
#include "resolver/net/tls/context.h"
#include "resolver/runtime.h"
#include "resolver/upstream/inflight_registry.h"

namespace sekisho::admin {
class Service;
}

namespace sekisho::resolver {

class Worker;
struct Announcement;

class Server {
 public:
  // `config_path` empty means the embedded defaults (nothing to reload from).
  // Opens the category store when one is configured (throws with the path and reason).
  Server(config::Configuration configuration, std::string config_path);
  ~Server();

  // Binds every socket (throws std::runtime_error with the address and reason on failure),
  // starts the workers, notifies systemd, and runs until drained. Returns the exit code.
  int run();

  cache::Cache& cache() { return *cache_; }
  // The settings of start-up: what a reload does not change (cache sizes) is read from here.
  const config::Settings& startup_settings() const { return initial_; }
  std::atomic<uint32_t>& tcp_connections() { return tcp_connections_; }
  // The certificate DoH and DoT connections get (server.tls); replaced on SIGHUP.
  const net::tls::ContextSlot& tls() const { return tls_; }
  upstream::InflightRegistry& inflight_registry() { return inflight_registry_; }
  policy::CategoryStore* category_store() { return store_.get(); }
  // Hands a loop's upstream result to the other loops that joined the same key.
  void announce(uint64_t loops, const Announcement& announcement);

  // Returns the current Runtime when its generation differs from `seen` (and updates
  // `seen`), else nullptr. One relaxed load when nothing changed.
  std::shared_ptr<const Runtime> runtime_if_changed(uint64_t& seen);

  // For the admin service's /metrics and API (admin/api/engine_host.cc), from its thread.
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  querylog::QueryLogWriter* querylog() const { return querylog_.get(); }

 private:
  void bind_sockets();
  void reload();
  bool load_tls(const config::Settings& settings, std::string& error);
  void begin_shutdown();
  void watchdog_tick();
  void publish(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies);

  std::string config_path_;
  config::Settings initial_;
  std::unique_ptr<cache::Cache> cache_;
  std::unique_ptr<policy::CategoryStore> store_;
  std::unique_ptr<querylog::QueryLogWriter> querylog_;
  bool querylog_files_ = false;
  std::atomic<uint32_t> tcp_connections_{0};
  net::tls::ContextSlot tls_;
  upstream::InflightRegistry inflight_registry_;

  std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::atomic<uint64_t> generation_{0};

  std::vector<std::unique_ptr<Worker>> workers_;
  uv_loop_t control_{};
  uv_signal_t sighup_{}, sigterm_{}, sigint_{};
  uv_timer_t watchdog_{};
  uint64_t watchdog_usec_ = 0;
  bool shutting_down_ = false;
  std::mutex reload_mutex_;  // SIGHUP (control loop) and the admin API (its thread) both reload
  std::unique_ptr<admin::Service> admin_;  // declared last: stops before the workers go
};

}  // namespace sekisho::resolver
