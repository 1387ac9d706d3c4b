#include "admin/api/engine_host.h"

#include "resolver/base/clock.h"
#include "resolver/server.h"
#include "resolver/worker.h"

namespace sekisho::admin {
namespace {

// Worker counters are plain integers each loop increments without synchronisation (no
// atomics on the query path). They are naturally aligned 64-bit words, so a relaxed atomic
// load from this thread reads a whole value that is at most one increment old.
uint64_t peek(const uint64_t& counter) { return __atomic_load_n(&counter, __ATOMIC_RELAXED); }

LiveConfig live_of(resolver::Server& server) {
  uint64_t seen = 0;  // never a published generation: always returns the current Runtime
  std::shared_ptr<const resolver::Runtime> rt = server.runtime_if_changed(seen);
  LiveConfig live;
  live.settings = std::shared_ptr<const config::Settings>(rt, &rt->settings);
  live.policies = rt->policies;
  live.generation = rt->generation;
  return live;
}

EngineSample sample_of(resolver::Server& server) {
  EngineSample s;
  for (const auto& w : server.workers()) {
    const resolver::WorkerCounters& c = w->counters();
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
  uint64_t seen = 0;
  auto rt = server.runtime_if_changed(seen);
  s.config_generation = rt->generation;
  const uint64_t now = monotonic_ms();
  for (size_t i = 0; i < rt->upstreams.size(); ++i) {
    const auto& u = rt->upstreams.at(i);
    s.upstreams.push_back({u.name, u.down_until_ms.load(std::memory_order_relaxed) <= now,
                           u.queries.load(std::memory_order_relaxed), u.failures.load(std::memory_order_relaxed),
                           u.response_us_total.load(std::memory_order_relaxed)});
    auto& out = s.upstreams.back();
    for (const auto& w : server.workers()) {
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
  if (auto* store = server.category_store()) {
    s.store_configured = true;
    s.store_generation = store->current_generation();
  }
  if (auto* log = server.querylog()) {
    const auto c = log->counters();
    s.querylog_written = c.records_written;
    s.querylog_dropped_ring = c.records_dropped_ring;
    s.querylog_dropped_io = c.records_dropped_io;
    s.tenants = log->all_stats();
  }
  return s;
}

}  // namespace

std::unique_ptr<Service> start_admin_service(resolver::Server& server, const config::Settings& settings,
                                             const std::string& config_path, const std::string& querylog_directory,
                                             std::function<uint64_t()> reload) {
  if (settings.admin.listen.empty() && settings.admin.metrics_listen.empty()) return nullptr;
  Service::Options o;
  o.settings = settings.admin;
  o.host.config_path = config_path;
  o.host.live = [&server] { return live_of(server); };
  o.host.reload = std::move(reload);
  o.host.store = server.category_store();
  o.host.querylog = server.querylog();
  o.host.querylog_directory = querylog_directory;
  o.host.stats_directory = daily_stats_directory(querylog_directory);
  o.sample = [&server] { return sample_of(server); };
  return std::make_unique<Service>(std::move(o));
}

}  // namespace sekisho::admin
