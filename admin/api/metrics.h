// Prometheus text exposition (format 0.0.4) of what the engine counts (Engine::sample(), taken
// without locks on the query path); rendering is a pure function so the exact
// output is unit-tested. Per-tenant series are bounded: the busiest kMaxTenantSeries tenants
// get their own label, the rest are summed under tenant="_other".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/fleet/state.h"
#include "feed/status.h"
#include "intercept/status.h"
#include "resolver/engine_sample.h"

namespace sekisho::admin {


inline constexpr size_t kMaxTenantSeries = 50;

std::string render_metrics(const resolver::EngineSample& sample);

// The feeds' series (sekisho_feed_*, label feed), from the status files sekisho-feed writes
// (feed/status.h, read_statuses: read per scrape, a few small files, on the admin thread); a
// feed that never ran reports last success 0.
std::string render_feed_metrics(const std::vector<feed::FeedStatus>& feeds);

// sekisho-intercept's series (sekisho_intercept_*, the list of intercept/status.h) and its bytes
// per tenant (sekisho_intercept_tenant_bytes_total{tenant, direction}, the busiest
// kMaxTenantSeries tenants, the rest as tenant="_other"), from its status file.
std::string render_intercept_metrics(const intercept::InterceptStatus& status);

// A fleet node's series (sekisho_fleet_*): whether it follows the database or runs on its last
// snapshot, the generation in use, and how long the last change took to apply.
std::string render_fleet_metrics(const config::fleet::FleetStatus& status);
}  // namespace sekisho::admin
