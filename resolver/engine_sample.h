// What the engine counts, as one plain value: every loop's counters summed, upstream health,
// the category store's generation and the query-log totals. Engine::sample() takes it from any
// thread without locks on the query path; /metrics (admin/api/metrics.h) renders it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/querylog/stats.h"

namespace sekisho::resolver {

struct EngineSample {
  uint64_t config_generation = 0;
  uint64_t queries_by_transport[4] = {0, 0, 0, 0};  // udp, tcp, dot, doh
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t category_memo_hits = 0;    // category lookups answered by the loops' name memos
  uint64_t category_memo_misses = 0;  // ... and those that went to the store
  uint64_t servfail = 0;
  uint64_t blocked = 0;
  uint64_t malformed = 0;
  uint64_t stale_answers = 0;
  uint64_t dropped_overload = 0;
  uint64_t refused_unknown_client = 0;
  // Answer latency histogram: per-bucket (not cumulative) counts for bounds_us, then +Inf.
  std::vector<uint64_t> latency_bounds_us;
  std::vector<uint64_t> latency_buckets;
  uint64_t latency_sum_us = 0;
  struct Upstream {
    std::string address;
    bool up = true;
    uint64_t queries = 0;
    uint64_t failures = 0;
    uint64_t response_us_total = 0;  // over `queries`
    // Reused TCP connections (upstream/tcp_pool.h), summed over the loops.
    uint64_t tcp_connections_opened = 0;
    uint64_t tcp_resent = 0;
    uint64_t tcp_retired_silent = 0;
    uint64_t tcp_connections_open = 0;
  };
  std::vector<Upstream> upstreams;
  bool store_configured = false;
  uint64_t store_generation = 0;
  uint64_t querylog_written = 0;
  uint64_t querylog_dropped_ring = 0;
  uint64_t querylog_dropped_io = 0;
  std::vector<querylog::TenantStats> tenants;
};

}  // namespace sekisho::resolver
