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

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
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

void sample(std::string& out, std::string_view name, const std::string& labels, uint64_t value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

std::string with(std::string_view labels, const std::string& more) {
  if (labels.empty()) return more;
  return std::string(labels) + "," + more;
}

// The series of the counter lists (resolver/counters.h), each family's HELP and TYPE before its
// first entry.
class CounterSeries {
 public:
  explicit CounterSeries(std::string& out) : out_(out) {}

  void operator()(const resolver::CounterInfo& c, uint64_t value) {
    begin(c);
    sample(out_, c.family, std::string(c.labels), value);
  }
  void operator()(const resolver::CounterInfo& c, const resolver::Sampled<resolver::PerTransport>::value_type& value) {
    begin(c);
    for (size_t t = 0; t < value.size(); ++t)
      sample(out_, c.family, with(c.labels, "transport=\"" + std::string(resolver::kTransportLabels[t]) + "\""), value[t]);
  }
  // Prometheus buckets are cumulative and labelled in seconds. No sample, no family.
  void operator()(const resolver::CounterInfo& c, const resolver::HistogramSample& h) {
    if (h.buckets.empty()) return;
    begin(c);
    const std::string name(c.family);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < h.buckets.size(); ++b) {
      cumulative += h.buckets[b];
      std::string le = "+Inf";
      if (b < h.bounds_us.size()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(h.bounds_us[b]) / 1e6);
        le = buf;
      }
      sample(out_, name + "_bucket", with(c.labels, "le=\"" + le + "\""), cumulative);
    }
    char sum[48];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(h.sum_us) / 1e6);
    out_ += name + "_sum";
    if (!c.labels.empty()) out_ += "{" + std::string(c.labels) + "}";
    out_ += ' ';
    out_ += sum;
    out_ += '\n';
    sample(out_, name + "_count", std::string(c.labels), cumulative);
  }
  // One series per upstream, of an entry of SEKISHO_UPSTREAM_TCP_COUNTERS.
  void per_upstream(const resolver::CounterInfo& c, const std::vector<resolver::EngineSample::Upstream>& upstreams,
                    uint64_t resolver::EngineSample::Upstream::Tcp::*field) {
    begin(c);
    for (const auto& u : upstreams)
      sample(out_, c.family, with(c.labels, "upstream=\"" + label(u.address) + "\""), u.tcp.*field);
  }

 private:
  void begin(const resolver::CounterInfo& c) {
    if (c.family == family_) return;
    family_ = c.family;
    family(out_, c.family, c.metric_type, c.help);
  }

  std::string& out_;
  std::string_view family_;
};

}  // namespace

std::string render_metrics(const resolver::EngineSample& s) {
  std::string out;
  CounterSeries counters(out);
  resolver::visit_loop_counters(s, counters);
  resolver::visit_forwarder_counters(s.forwarder, counters);
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
  using Tcp = resolver::EngineSample::Upstream::Tcp;
  resolver::visit_upstream_tcp_counters_members<Tcp>(
      [&](const resolver::CounterInfo& c, uint64_t Tcp::*field) { counters.per_upstream(c, s.upstreams, field); });
  family(out, "sekisho_config_generation", "gauge", "Configuration generation in use (bumped by every reload).");
  sample(out, "sekisho_config_generation", "", s.config_generation);
  if (s.store_configured) {
    family(out, "sekisho_category_store_generation", "gauge", "Category store generation (bumped by every import).");
    sample(out, "sekisho_category_store_generation", "", s.store_generation);
    resolver::visit_store_counters(s, counters);
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

std::string render_fleet_metrics(const config::fleet::FleetStatus& st) {
  std::string out;
  family(out, "sekisho_fleet_database_connected", "gauge", "1 while this node follows the fleet database.");
  sample(out, "sekisho_fleet_database_connected", "", st.connected ? 1 : 0);
  family(out, "sekisho_fleet_running_on_last_snapshot", "gauge",
         "1 while the fleet database is unreachable and this node runs on its last snapshot (admin writes answer 503).");
  sample(out, "sekisho_fleet_running_on_last_snapshot", "", st.connected ? 0 : 1);
  family(out, "sekisho_fleet_generation", "gauge", "The fleet generation of the configuration in use.");
  sample(out, "sekisho_fleet_generation", "", static_cast<uint64_t>(std::max<int64_t>(st.generation, 0)));
  family(out, "sekisho_fleet_snapshots_applied_total", "counter", "Fleet snapshots applied since start.");
  sample(out, "sekisho_fleet_snapshots_applied_total", "", st.applied_total);
  family(out, "sekisho_fleet_disconnects_total", "counter", "Times the fleet database connection was lost.");
  sample(out, "sekisho_fleet_disconnects_total", "", st.disconnects_total);
  // Gauges in seconds with a fraction: written by hand, sample() takes integers.
  family(out, "sekisho_fleet_last_apply_seconds", "gauge", "The last change: NOTIFY received to configuration published.");
  out += "sekisho_fleet_last_apply_seconds " + std::to_string(st.last_apply_seconds) + "\n";
  family(out, "sekisho_fleet_last_commit_to_apply_seconds", "gauge",
         "The last change: the writer's commit (database clock) to configuration published here.");
  out += "sekisho_fleet_last_commit_to_apply_seconds " + std::to_string(st.last_commit_to_apply_seconds) + "\n";
  return out;
}

std::string render_feed_metrics(const std::vector<feed::FeedStatus>& feeds) {
  std::string out;
  if (feeds.empty()) return out;
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*value)(const feed::FeedStatus&);
  };
  static constexpr Family kFamilies[] = {
      {"sekisho_feed_last_success_timestamp_seconds", "gauge",
       "Unix time of the feed's last successful refresh (0: never).",
       [](const feed::FeedStatus& f) { return static_cast<uint64_t>(std::max<int64_t>(f.last_success, 0)); }},
      {"sekisho_feed_last_attempt_timestamp_seconds", "gauge", "Unix time of the feed's last refresh attempt.",
       [](const feed::FeedStatus& f) { return static_cast<uint64_t>(std::max<int64_t>(f.last_attempt, 0)); }},
      {"sekisho_feed_entries", "gauge", "Domain entries the feed's source holds in the category store.",
       [](const feed::FeedStatus& f) { return f.entries; }},
      {"sekisho_feed_serial", "gauge", "Zone serial stored with the feed's source.",
       [](const feed::FeedStatus& f) { return static_cast<uint64_t>(f.serial.value_or(0)); }},
      {"sekisho_feed_failures_total", "counter", "Failed refresh attempts of the feed (refusals included).",
       [](const feed::FeedStatus& f) { return f.failures_total; }},
      {"sekisho_feed_refusals_total", "counter",
       "Updates the update guard refused (empty, an error page, all refused, shrink, public suffix).",
       [](const feed::FeedStatus& f) { return f.refusals_total; }},
      {"sekisho_feed_expired", "gauge", "1 while the feed is past its SOA expire (its last data still served).",
       [](const feed::FeedStatus& f) { return static_cast<uint64_t>(f.expired); }},
  };
  for (const Family& fam : kFamilies) {
    family(out, fam.name, fam.type, fam.help);
    for (const auto& f : feeds) sample(out, fam.name, "feed=\"" + label(f.name) + "\"", fam.value(f));
  }
  return out;
}

std::string render_intercept_metrics(const intercept::InterceptStatus& status) {
  std::string out;
  std::string_view previous;
  for (const auto& c : intercept::counter_descriptions()) {
    if (c.family != previous) family(out, c.family, c.type, c.help);
    previous = c.family;
    sample(out, c.family, std::string(c.labels), status.counters.*c.member);
  }
  // The busiest tenants by name, the rest summed, as for the engine's per-tenant series.
  std::vector<const intercept::TenantTraffic*> order;
  for (const auto& t : status.tenants) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->bytes_in + a->bytes_out > b->bytes_in + b->bytes_out;
  });
  family(out, "sekisho_intercept_tenant_bytes_total", "counter",
         "Bytes sekisho-intercept forwarded for a tenant's clients: in = from origins, out = to them.");
  uint64_t other_in = 0, other_out = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i >= kMaxTenantSeries) {
      other_in += order[i]->bytes_in;
      other_out += order[i]->bytes_out;
      continue;
    }
    const std::string t = "tenant=\"" + label(order[i]->tenant) + "\"";
    sample(out, "sekisho_intercept_tenant_bytes_total", t + ",direction=\"in\"", order[i]->bytes_in);
    sample(out, "sekisho_intercept_tenant_bytes_total", t + ",direction=\"out\"", order[i]->bytes_out);
  }
  if (order.size() > kMaxTenantSeries) {
    sample(out, "sekisho_intercept_tenant_bytes_total", "tenant=\"_other\",direction=\"in\"", other_in);
    sample(out, "sekisho_intercept_tenant_bytes_total", "tenant=\"_other\",direction=\"out\"", other_out);
  }
  return out;
}

}  // namespace sekisho::admin
