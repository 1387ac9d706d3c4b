// What the engine counts, as one plain value: every loop's counters summed, upstream health,
// the category store's generation and the query-log totals. Engine::sample() takes it from any
// thread without locks on the query path; /metrics (admin/api/metrics.h) renders it. The
// counters' fields come from the lists in counters.h; visit_<list>() walks them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/querylog/stats.h"
#include "resolver/counters.h"

namespace sekisho::resolver {

struct EngineSample {
  uint64_t config_generation = 0;
  SEKISHO_LOOP_COUNTERS(SEKISHO_SAMPLE_FIELD)
  struct Forwarder {
    SEKISHO_FORWARDER_COUNTERS(SEKISHO_SAMPLE_FIELD)
  } forwarder;
  struct Upstream {
    std::string address;
    bool up = true;
    uint64_t queries = 0;
    uint64_t failures = 0;
    uint64_t response_us_total = 0;  // over `queries`
    // Reused TCP connections (upstream/tcp_pool.h), summed over the loops.
    struct Tcp {
      SEKISHO_UPSTREAM_TCP_COUNTERS(SEKISHO_SAMPLE_FIELD)
    } tcp;
  };
  std::vector<Upstream> upstreams;
  bool store_configured = false;
  uint64_t store_generation = 0;
  SEKISHO_STORE_COUNTERS(SEKISHO_SAMPLE_FIELD)
  uint64_t querylog_written = 0;
  uint64_t querylog_dropped_ring = 0;
  uint64_t querylog_dropped_io = 0;
  std::vector<querylog::TenantStats> tenants;
};

}  // namespace sekisho::resolver
