// Engine::sample(): what /metrics and the admin API report, read from another thread while the
// loops serve. The loops' counters are plain integers each loop increments without
// synchronisation (no atomics on the query path); they are naturally aligned 64-bit words, so a
// relaxed atomic load reads a whole value that is at most one increment old.
#include "base/clock.h"
#include "resolver/engine.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {

uint64_t peek(const uint64_t& counter) { return __atomic_load_n(&counter, __ATOMIC_RELAXED); }

}  // namespace

EngineSample Engine::sample() const {
  EngineSample s;
  for (const auto& w : workers_) {
    const WorkerCounters& c = w->counters();
    for (size_t t = 0; t < std::size(c.queries) && t < 4; ++t) s.queries_by_transport[t] += peek(c.queries[t]);
    s.cache_hits += peek(c.cache_hits);
    s.cache_misses += peek(c.cache_misses);
    s.category_memo_hits += peek(c.category_memo_hits);
    s.category_memo_misses += peek(c.category_memo_misses);
    s.servfail += peek(c.servfail);
    s.blocked += peek(c.blocked);
    s.malformed += peek(c.malformed);
    s.stale_answers += peek(c.stale_answers);
    s.dropped_overload += peek(c.dropped_overload);
    s.refused_unknown_client += peek(c.refused_unknown_client);
    if (s.latency_buckets.empty()) {
      s.latency_bounds_us.assign(std::begin(c.kLatencyBoundsUs), std::end(c.kLatencyBoundsUs));
      s.latency_buckets.assign(c.kLatencyBuckets, 0);
    }
    for (size_t b = 0; b < c.kLatencyBuckets; ++b) s.latency_buckets[b] += peek(c.latency_buckets[b]);
    s.latency_sum_us += peek(c.latency_sum_us);
  }
  const auto rt = current();
  s.config_generation = rt->generation;
  const uint64_t now = monotonic_ms();
  for (size_t i = 0; i < rt->upstreams.size(); ++i) {
    const auto& u = rt->upstreams.at(i);
    s.upstreams.push_back({u.name, u.down_until_ms.load(std::memory_order_relaxed) <= now,
                           u.queries.load(std::memory_order_relaxed), u.failures.load(std::memory_order_relaxed),
                           u.response_us_total.load(std::memory_order_relaxed)});
    auto& out = s.upstreams.back();
    for (const auto& w : workers_) {
      const upstream::TcpPool& pool = w->forwarder().tcp_pool();
      for (size_t k = 0, n = pool.counted_servers(); k < n; ++k) {
        const auto& c = pool.server_counters(k);
        if (!(c.server == u.settings.address)) continue;
        out.tcp_connections_opened += peek(c.connections_opened);
        out.tcp_resent += peek(c.resent);
        out.tcp_retired_silent += peek(c.retired_silent);
        out.tcp_connections_open += peek(c.connections_open);
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
