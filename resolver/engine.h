// The DNS engine: binds the sockets, runs one Worker per thread, and owns what they share (the
// answer cache, the published Runtime, the TCP connection count, the category store, the
// query-log writer). It knows nothing of where its configuration comes from: the composition
// root (daemon/) reads a source, compiles it and hands the result to publish(). The calling
// thread runs a small control loop for signals and the systemd watchdog:
//   SIGHUP  → Hooks::reload (the daemon re-reads its source and publishes)
//   SIGTERM → Hooks::stopping, then stop accepting, let in-flight queries finish
//             (drain_timeout_ms), and return 0
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/settings.h"
#include "net/per_address_limit.h"
#include "net/tls/context.h"
#include "policy/policy.h"
#include "policy/querylog/writer.h"
#include "policy/store/category_store.h"
#include "resolver/cache/cache.h"
#include "resolver/engine_sample.h"
#include "resolver/runtime.h"
#include "resolver/limits/usage.h"
#include "resolver/upstream/inflight_registry.h"

namespace sekisho::resolver {

class Worker;
struct Announcement;

class Engine {
 public:
  // What the composition root does at the engine's turning points; each may be empty.
  struct Hooks {
    std::function<void()> reload;    // SIGHUP, on the control loop's thread
    std::function<void()> started;   // sockets bound, loops not yet started; may throw to abort start-up
    std::function<void()> stopping;  // SIGTERM/SIGINT, before the loops drain
  };

  // Opens the category store when one is configured (throws with the path and reason) and
  // publishes the first generation.
  Engine(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Binds every socket (throws std::runtime_error with the address and reason on failure),
  // starts the workers, notifies systemd, and runs until drained. Returns the exit code.
  int run(Hooks hooks = {});
  // Begins what SIGTERM begins: stop accepting, drain, and make run() return (thread-safe; lets
  // a program or a test that runs the engine in-process stop it without a signal).
  void stop();

  // Makes `settings` and `policies` the configuration the next query sees (thread-safe).
  // What only a restart changes (listeners, threads, cache size, store) is logged and kept;
  // a certificate that does not load leaves the running one in place. Returns the generation.
  uint64_t publish(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies);
  // The Runtime in use now (thread-safe).
  std::shared_ptr<const Runtime> current() const;
  // Counters of every loop, upstream health and query-log totals (thread-safe, lock-free on
  // the query path): what /metrics and the admin API report.
  EngineSample sample() const;

  cache::Cache& cache() { return *cache_; }
  // The settings of start-up: what a reload does not change (cache sizes) is read from here.
  const config::Settings& startup_settings() const { return initial_; }
  std::atomic<uint32_t>& tcp_connections() { return tcp_connections_; }
  // TCP and DoT connections open per client, across loops (server.tcp.max_connections_per_address).
  net::PerAddressLimit& connections_per_address() { return connections_per_address_; }
  // The certificate DoH and DoT connections get (server.tls); replaced by publish().
  const net::tls::ContextSlot& tls() const { return tls_; }
  upstream::InflightRegistry& inflight_registry() { return inflight_registry_; }
  // Each client's queries waiting on upstreams, across loops (limits/usage.h).
  limits::ClientUpstreamCounts& client_upstream() { return client_upstream_; }
  policy::CategoryStore* category_store() const { return store_.get(); }
  querylog::QueryLogWriter* querylog() const { return querylog_.get(); }
  // Where query-log files go; empty when only statistics are kept.
  const std::string& querylog_directory() const { return querylog_directory_; }
  // Hands a loop's upstream result to the other loops that joined the same key.
  void announce(uint64_t loops, const Announcement& announcement);

  // Returns the current Runtime when its generation differs from `seen` (and updates
  // `seen`), else nullptr. One relaxed load when nothing changed.
  std::shared_ptr<const Runtime> runtime_if_changed(uint64_t& seen);

  // The serving loops (test hooks post work onto them).
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

 private:
  void bind_sockets();
  void share_descriptors();
  bool load_tls(const config::Settings& settings, std::string& error);
  void begin_shutdown();
  void watchdog_tick();
  uint64_t install(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies);

  config::Settings initial_;
  std::unique_ptr<cache::Cache> cache_;
  std::unique_ptr<policy::CategoryStore> store_;
  std::unique_ptr<querylog::QueryLogWriter> querylog_;
  std::string querylog_directory_;
  std::atomic<uint32_t> tcp_connections_{0};
  net::PerAddressLimit connections_per_address_;
  net::tls::ContextSlot tls_;
  upstream::InflightRegistry inflight_registry_;
  limits::ClientUpstreamCounts client_upstream_;

  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::atomic<uint64_t> generation_{0};
  std::mutex publish_mutex_;  // SIGHUP (control loop) and the admin API (its thread) both publish

  Hooks hooks_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uv_loop_t control_{};
  uv_signal_t sighup_{}, sigterm_{}, sigint_{};
  uv_async_t stop_{};  // stop(); unreferenced, so that it never keeps the control loop running
  uv_timer_t watchdog_{};
  uint64_t watchdog_usec_ = 0;
  bool shutting_down_ = false;
};

}  // namespace sekisho::resolver
