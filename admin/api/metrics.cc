#include "admin/api/metrics.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>

#include "policy/querylog/format.h"

namespace sekisho::admin {
namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

std::string render_metrics(const resolver::EngineSample& s) {
  std::string out;
  static constexpr const char* kTransports[] = {"udp", "tcp", "dot", "doh"};
  family(out, "sekisho_queries_total", "counter", "DNS queries received, by transport.");
  for (int t = 0; t < 4; ++t) sample(out, "sekisho_queries_total", std::string("transport=\"") + kTransports[t] + "\"", s.queries_by_transport[t]);
  family(out, "sekisho_answers_total", "counter", "Answers by outcome (engine counters).");
  sample(out, "sekisho_answers_total", "outcome=\"blocked\"", s.blocked);
  sample(out, "sekisho_answers_total", "outcome=\"servfail\"", s.servfail);
  sample(out, "sekisho_answers_total", "outcome=\"stale\"", s.stale_answers);
  sample(out, "sekisho_answers_total", "outcome=\"malformed\"", s.malformed);
  sample(out, "sekisho_answers_total", "outcome=\"refused_unknown_client\"", s.refused_unknown_client);
  sample(out, "sekisho_answers_total", "outcome=\"dropped_overload\"", s.dropped_overload);
  if (!s.latency_buckets.empty()) {
    // Prometheus buckets are cumulative and labelled in seconds.
    family(out, "sekisho_query_duration_seconds", "histogram", "Time from a query's arrival to its answer.");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < s.latency_buckets.size(); ++b) {
      cumulative += s.latency_buckets[b];
      std::string le = "+Inf";
      if (b < s.latency_bounds_us.size()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(s.latency_bounds_us[b]) / 1e6);
        le = buf;
      }
      sample(out, "sekisho_query_duration_seconds_bucket", "le=\"" + le + "\"", cumulative);
    }
    char sum[48];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(s.latency_sum_us) / 1e6);
    out += "sekisho_query_duration_seconds_sum ";
    out += sum;
    out += '\n';
    sample(out, "sekisho_query_duration_seconds_count", "", cumulative);
  }
  family(out, "sekisho_cache_lookups_total", "counter", "Answer cache lookups; hit ratio = hit / (hit + miss).");
  sample(out, "sekisho_cache_lookups_total", "result=\"hit\"", s.cache_hits);
  sample(out, "sekisho_cache_lookups_total", "result=\"miss\"", s.cache_misses);
  family(out, "sekisho_upstream_up", "gauge", "1 while the upstream is not marked down.");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_up", "upstream=\"" + label(u.address) + "\"", u.up ? 1 : 0);
  family(out, "sekisho_upstream_queries_total", "counter", "Attempts sent to each upstream.");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_queries_total", "upstream=\"" + label(u.address) + "\"", u.queries);
  family(out, "sekisho_upstream_failures_total", "counter", "Failed attempts per upstream (timeouts, errors).");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_failures_total", "upstream=\"" + label(u.address) + "\"", u.failures);
  // A summary without quantiles: rate(_sum) / rate(_count) is the mean response time.
  family(out, "sekisho_upstream_response_seconds", "summary", "Time from sending an attempt to its usable answer.");
  for (const auto& u : s.upstreams) {
    const std::string labels = "upstream=\"" + label(u.address) + "\"";
    char sum[48];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(u.response_us_total) / 1e6);
    out += "sekisho_upstream_response_seconds_sum{" + labels + "} " + sum + "\n";
    sample(out, "sekisho_upstream_response_seconds_count", labels, u.queries);
  }
  family(out, "sekisho_upstream_tcp_connections_opened_total", "counter", "TCP connections opened to each upstream (kept open and reused).");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_tcp_connections_opened_total", "upstream=\"" + label(u.address) + "\"", u.tcp_connections_opened);
  family(out, "sekisho_upstream_tcp_queries_resent_total", "counter", "Queries sent again after the upstream closed their TCP connection.");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_tcp_queries_resent_total", "upstream=\"" + label(u.address) + "\"", u.tcp_resent);
  family(out, "sekisho_upstream_tcp_connections_retired_total", "counter", "TCP connections given up after a query timed out with no answer on them since it was sent.");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_tcp_connections_retired_total", "upstream=\"" + label(u.address) + "\"", u.tcp_retired_silent);
  family(out, "sekisho_upstream_tcp_connections_open", "gauge", "TCP connections to each upstream now open or connecting.");
  for (const auto& u : s.upstreams) sample(out, "sekisho_upstream_tcp_connections_open", "upstream=\"" + label(u.address) + "\"", u.tcp_connections_open);
  family(out, "sekisho_config_generation", "gauge", "Configuration generation in use (bumped by every reload).");
  sample(out, "sekisho_config_generation", "", s.config_generation);
  if (s.store_configured) {
    family(out, "sekisho_category_store_generation", "gauge", "Category store generation (bumped by every import).");
    sample(out, "sekisho_category_store_generation", "", s.store_generation);
    family(out, "sekisho_category_memo_lookups_total", "counter",
           "Category lookups of names the serving loops remembered (hit) or read from the store (miss).");
    sample(out, "sekisho_category_memo_lookups_total", "result=\"hit\"", s.category_memo_hits);
    sample(out, "sekisho_category_memo_lookups_total", "result=\"miss\"", s.category_memo_misses);
  }
  family(out, "sekisho_querylog_records_total", "counter", "Query-log records by fate.");
  sample(out, "sekisho_querylog_records_total", "fate=\"written\"", s.querylog_written);
  sample(out, "sekisho_querylog_records_total", "fate=\"dropped_ring\"", s.querylog_dropped_ring);
  sample(out, "sekisho_querylog_records_total", "fate=\"dropped_io\"", s.querylog_dropped_io);

  // Busiest tenants first; the tail is summed so the series count never depends on the
  // number of tenants.
  std::vector<const querylog::TenantStats*> order;
  for (const auto& t : s.tenants) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->queries > b->queries; });
  std::array<uint64_t, querylog::kActions> other_actions{};
  uint64_t other_devices = 0;
  bool other = false;
  family(out, "sekisho_tenant_queries_total", "counter", "Queries per tenant and action (busiest tenants; the rest as _other).");
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& t = *order[i];
    if (i >= kMaxTenantSeries) {
      other = true;
      for (size_t a = 0; a < querylog::kActions; ++a) other_actions[a] += t.by_action[a];
      other_devices += t.active_devices;
      continue;
    }
    for (size_t a = 0; a < querylog::kActions; ++a)
      if (t.by_action[a])
        sample(out, "sekisho_tenant_queries_total",
               "tenant=\"" + label(t.tenant_id) + "\",action=\"" +
                   std::string(querylog::action_name(static_cast<querylog::QueryAction>(a))) + "\"",
               t.by_action[a]);
  }
  if (other)
    for (size_t a = 0; a < querylog::kActions; ++a)
      if (other_actions[a])
        sample(out, "sekisho_tenant_queries_total",
               "tenant=\"_other\",action=\"" + std::string(querylog::action_name(static_cast<querylog::QueryAction>(a))) + "\"",
               other_actions[a]);
  family(out, "sekisho_tenant_active_devices", "gauge", "Distinct clients seen in the last 30 days per tenant.");
  for (size_t i = 0; i < order.size() && i < kMaxTenantSeries; ++i)
    sample(out, "sekisho_tenant_active_devices", "tenant=\"" + label(order[i]->tenant_id) + "\"", order[i]->active_devices);
  if (other) sample(out, "sekisho_tenant_active_devices", "tenant=\"_other\"", other_devices);
  return out;
}

}  // namespace sekisho::admin
