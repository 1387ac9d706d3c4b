// Engine::sample(): what /metrics and the admin API report, read from another thread while the
// loops serve. Each loop is the only writer of its counters (base/counter.h): a relaxed load
// reads a whole value that is at most a few increments old, and the loops never wait for it.
#include "base/clock.h"
#include "resolver/engine.h"
#include "resolver/worker.h"

namespace sekisho::resolver {

EngineSample Engine::sample() const {
  EngineSample s;
  for (const auto& w : workers_) {
    const WorkerCounters& c = w->counters();
    visit_loop_counters(s, c, add_into);
    visit_store_counters(s, c, add_into);
    visit_forwarder_counters(s.forwarder, w->forwarder().counters(), add_into);
  }
  const auto rt = current();
  s.config_generation = rt->generation;
  const uint64_t now = monotonic_ms();
  for (size_t i = 0; i < rt->upstreams.size(); ++i) {
    const auto& u = rt->upstreams.at(i);
    auto& out = s.upstreams.emplace_back();
    out.address = u.name;
    out.up = u.down_until_ms.load(std::memory_order_relaxed) <= now;
    out.queries = u.queries.load(std::memory_order_relaxed);
    out.failures = u.failures.load(std::memory_order_relaxed);
    out.response_us_total = u.response_us_total.load(std::memory_order_relaxed);
    for (const auto& w : workers_) {
      const upstream::TcpPool& pool = w->forwarder().tcp_pool();
      for (size_t k = 0, n = pool.counted_servers(); k < n; ++k) {
        const auto& c = pool.server_counters(k);
        if (c.server == u.settings.address) visit_upstream_tcp_counters(out.tcp, c, add_into);
      }
    }
  }
  if (auto* store = store_.get()) {
    s.store_configured = true;
    s.store_generation = store->current_generation();
  }
  if (auto* log = querylog_.get()) {
    const auto c = log->counters();
    s.querylog_written = c.records_written;
    s.querylog_dropped_ring = c.records_dropped_ring;
    s.querylog_dropped_io = c.records_dropped_io;
    s.tenants = log->all_stats();
  }
  return s;
}

}  // namespace sekisho::resolver
