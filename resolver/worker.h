// One event loop on its own thread, and everything it owns: listeners, the pool of waiting
// queries, the forwarder with its in-flight table, buffers and counters. Nothing here is
// touched by another thread except the atomics documented below; the only shared state is
// the Engine's cache and published Runtime.
//
// libuv handle rule (used throughout resolver/): a handle is a member of the object that owns
// it, and that object is freed only in the handle's close callback.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "policy/querylog/ring.h"
#include "policy/store/category_store.h"
#include "base/clock.h"
#include "base/log_throttle.h"
#include "resolver/limits/response_rate_limit.h"
#include "resolver/cache/read_epoch.h"
#include "resolver/counters.h"
#include "resolver/query_context.h"
#include "resolver/runtime.h"
#include "resolver/upstream/forwarder.h"

namespace sekisho::net::http {
class Exchange;
class Server;
}

namespace sekisho::resolver {

class Engine;
class UdpListener;
class TcpListener;
class TcpConnection;

static_assert(kTransportLabels.size() == kTransportCount && kTransportLabels[static_cast<size_t>(Transport::udp)] == "udp" &&
              kTransportLabels[static_cast<size_t>(Transport::tcp)] == "tcp" &&
              kTransportLabels[static_cast<size_t>(Transport::dot)] == "dot" &&
              kTransportLabels[static_cast<size_t>(Transport::doh)] == "doh");

// One loop's counters (the loop writes them; Engine::sample() reads them from any thread),
// made from the lists in counters.h.
struct WorkerCounters {
  SEKISHO_LOOP_COUNTERS(SEKISHO_COUNTER_FIELD)
  SEKISHO_STORE_COUNTERS(SEKISHO_COUNTER_FIELD)
  void observe_latency(uint64_t us) { latency.observe(us); }
};

// What another loop learned about a key this loop joined (see upstream/inflight_registry.h).
struct Announcement {
  cache::CacheKey key;
  std::shared_ptr<const cache::CachedAnswer> answer;  // null: every attempt failed
  dns::EdeCode failure = dns::EdeCode::other;
  std::string failure_text;
};

class Worker final : public upstream::Forwarder::Delegate {
 public:
  Worker(Engine& engine, unsigned index);
  ~Worker() override;

  // Called before start(): sockets already bound by the Engine (SO_REUSEPORT, one per loop).
  void add_udp_socket(int fd);
  void add_tcp_socket(int fd);
  void add_dot_socket(int fd);
  void add_doh_socket(int fd);

  void start();         // spawns the thread
  void join();
  void request_drain();  // thread-safe: stop accepting, finish what is in flight, then stop

  // For the pipeline and transports (loop thread only).
  cache::Cache& cache();
  ContextPool& pool() { return pool_; }
  upstream::Forwarder& forwarder() { return forwarder_; }
  const std::shared_ptr<const Runtime>& runtime() const { return runtime_; }
  WorkerCounters& counters() { return counters_; }
  // This loop's response rate limiter (UDP answers) and the throttles of the limits' warnings.
  limits::ResponseRateLimiter& rrl() { return rrl_; }
  limits::ClientUpstreamCounts& client_upstream();  // the engine's, shared by the loops
  log::Throttle& rrl_log() { return rrl_log_; }
  log::Throttle& quota_log() { return quota_log_; }
  log::Throttle& upstream_limit_log() { return upstream_limit_log_; }
  std::span<uint8_t> scratch() { return scratch_; }
  uv_loop_t* loop() { return &loop_; }
  Engine& engine() { return engine_; }
  bool draining() const { return draining_; }
  unsigned index() const { return index_; }

  // Picks up a newly published Runtime; called at the start of every receive batch.
  void refresh_runtime();
  // A receive batch: picks up a new Runtime, renews the category store snapshot (imports
  // become visible at the next batch; no snapshot is held between batches) and holds a cache
  // read section (entries replaced meanwhile are freed after it). Re-entrant.
  void begin_batch();
  void end_batch();
  // The clocks as read when the current batch began; read afresh outside a batch.
  const ClockReading& clock() {
    if (batch_depth_ == 0) batch_clock_ = ClockReading::now();
    return batch_clock_;
  }
  // The category store reader of the current batch, or null when no store is configured.
  // This loop's query-log ring (single producer: this loop), or null when there is none.
  querylog::QueryLogRing* querylog_ring() { return querylog_ring_; }
  // Whether records without a tenant are worth recording: only when they go to files (the
  // statistics are per tenant). Spares a plain forwarder the per-query record.
  bool querylog_files() const { return querylog_files_; }
  void set_querylog_ring(querylog::QueryLogRing* ring, bool files) {
    querylog_ring_ = ring;
    querylog_files_ = files;
  }
  policy::CategoryReader* category_reader() { return reader_ && reader_->in_batch() ? reader_.get() : nullptr; }
  // Sends a late answer back through the transport the query came in on.
  void deliver(const QueryContext& ctx, std::span<const uint8_t> answer);

  // DoH exchanges waiting for an upstream answer, by slot: QueryContext holds the slot and
  // serial, not the exchange (no owning pointers in the pooled contexts).
  uint32_t park_doh(std::shared_ptr<net::http::Exchange> exchange, uint32_t& serial);
  std::shared_ptr<net::http::Exchange> take_doh(uint32_t slot, uint32_t serial);

  void on_resolved(QueryContext* waiters, const upstream::Resolution& resolution) override;
  void announce(uint64_t loops, const cache::CacheKey& key, const upstream::Resolution& resolution) override;
  // Thread-safe: queues an announcement for this loop and wakes it.
  void post(Announcement&& announcement);
  // Thread-safe: runs `task` on this loop's thread when it next wakes (dropped once the loop has
  // stopped). Nothing on the query path posts tasks; it lets code outside the engine act on one
  // loop, e.g. the test build's hook that stalls a loop to exercise the watchdog.
  void post_task(std::function<void()> task);

  // Monotonic ms of the loop's last heartbeat; read by the watchdog on the main thread.
  uint64_t heartbeat_ms() const { return heartbeat_ms_.load(std::memory_order_relaxed); }

  void connection_opened(TcpConnection* c);
  void connection_closed(TcpConnection* c);

 private:
  void run();
  void begin_drain();
  void check_drained();
  void close_everything();
  void take_announcements();

  Engine& engine_;
  unsigned index_;
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t heartbeat_{};
  std::atomic<bool> drain_requested_{false};
  std::mutex inbox_mutex_;
  std::vector<Announcement> inbox_;
  std::vector<std::function<void()>> tasks_;  // guarded by inbox_mutex_
  bool inbox_open_ = true;  // guarded by inbox_mutex_; false once wakeup_ is closing
  bool draining_ = false;
  bool closed_ = false;  // close_everything ran (check_drained is re-entered while it abandons)
  uint64_t drain_deadline_ms_ = 0;
  std::atomic<uint64_t> heartbeat_ms_{0};

  std::unique_ptr<policy::CategoryReader> reader_;
  querylog::QueryLogRing* querylog_ring_ = nullptr;
  bool querylog_files_ = false;
  int batch_depth_ = 0;
  ClockReading batch_clock_;
  // Open for the whole batch, so that the cache hits inside it enter no section of their own.
  std::optional<cache::read_epoch::ReadSection> cache_section_;
  std::shared_ptr<const Runtime> runtime_;
  uint64_t runtime_generation_ = 0;
  ContextPool pool_;
  upstream::Forwarder forwarder_;
  WorkerCounters counters_;
  limits::ResponseRateLimiter rrl_;
  log::Throttle rrl_log_, quota_log_, upstream_limit_log_;
  std::vector<uint8_t> scratch_;
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::vector<std::unique_ptr<TcpListener>> tcp_;  // plain TCP and DoT listeners
  std::unique_ptr<net::http::Server> doh_;         // this loop's DoH listeners and connections
  struct DohWaiting {
    std::shared_ptr<net::http::Exchange> exchange;
    uint32_t serial = 0;
  };
  std::vector<DohWaiting> doh_waiting_;
  std::vector<uint32_t> doh_free_;
  uint32_t doh_serial_ = 0;
  std::vector<TcpConnection*> connections_;
  std::thread thread_;
};

// Holds a batch open for a scope (TCP frames, upstream answers).
class BatchScope {
 public:
  explicit BatchScope(Worker& w) : w_(w) { w_.begin_batch(); }
  ~BatchScope() { w_.end_batch(); }
  BatchScope(const BatchScope&) = delete;
  BatchScope& operator=(const BatchScope&) = delete;

 private:
  Worker& w_;
};

}  // namespace sekisho::resolver
