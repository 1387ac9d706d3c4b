// What the engine counts: the one list. Each entry below makes
//   - a field of the counters a serving loop keeps (WorkerCounters in worker.h,
//     upstream::Forwarder::Counters, upstream::TcpPool's per-server counters), written by that
//     loop only, with relaxed atomic loads and stores (base/counter.h);
//   - the field of the same name in EngineSample, summed over the loops by Engine::sample();
//   - its series in /metrics (admin/api/metrics.cc renders every entry);
//   - its key in the "stopped" line Engine::run logs at exit.
// A new counter is one line here plus its increment; nothing else lists counters.
//
// Columns: X(type, field, family, labels, help)
//   type    Counter (a total), Gauge (a level), PerTransport (a total per transport, labelled
//           transport="udp" …), LatencyHistogram
//   field   the member's name, and its key in the exit line (a PerTransport's keys are
//           udp_<field>, tcp_<field>, …)
//   family  the Prometheus metric family; the entries of one family are adjacent
//   labels  the series' labels within its family ("" for none)
//   help    the family's HELP text, on its first entry ("" on the others)
// Metric names and labels are what dashboards and the e2e tests read: never rename one.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <vector>

#include "base/counter.h"

namespace sekisho::resolver {

// Counted by every loop. Answers by outcome, then the latency histogram, as /metrics shows them.
#define SEKISHO_LOOP_COUNTERS(X)                                                                                   \
  X(PerTransport, queries, "sekisho_queries_total", "", "DNS queries received, by transport.")                     \
  X(Counter, blocked, "sekisho_answers_total", "outcome=\"blocked\"", "Answers by outcome (engine counters).")     \
  X(Counter, monitored, "sekisho_answers_total", "outcome=\"monitored\"", "")                                      \
  X(Counter, servfail, "sekisho_answers_total", "outcome=\"servfail\"", "")                                        \
  X(Counter, stale_answers, "sekisho_answers_total", "outcome=\"stale\"", "")                                      \
  X(Counter, malformed, "sekisho_answers_total", "outcome=\"malformed\"", "")                                      \
  X(Counter, refused_unknown_client, "sekisho_answers_total", "outcome=\"refused_unknown_client\"", "")            \
  X(Counter, dropped_overload, "sekisho_answers_total", "outcome=\"dropped_overload\"", "")                        \
  X(LatencyHistogram, latency, "sekisho_query_duration_seconds", "", "Time from a query's arrival to its answer.") \
  X(Counter, cache_hits, "sekisho_cache_lookups_total", "result=\"hit\"",                                          \
    "Answer cache lookups; hit ratio = hit / (hit + miss).")                                                       \
  X(Counter, cache_misses, "sekisho_cache_lookups_total", "result=\"miss\"", "")                                   \
  X(Counter, doh_rejected, "sekisho_doh_rejected_total", "", "DoH requests answered with an HTTP error status.")   \
  X(Counter, tls_failures, "sekisho_dot_tls_failures_total", "",                                                   \
    "DoT connections closed because their TLS handshake or a TLS record failed.")                                  \
  X(Counter, tcp_connections_refused, "sekisho_tcp_connections_refused_total", "",                                 \
    "TCP and DoT connections closed on accept (connection limit reached, or draining).")                           \
  X(Counter, tcp_closed_per_address, "sekisho_tcp_connections_closed_total", "reason=\"per_address_limit\"",       \
    "TCP and DoT connections we closed early: over server.tcp.max_connections_per_address, a client in no "        \
    "tenant's networks (DoT: without a device token), or a frame not whole within server.tcp.frame_timeout_ms.")   \
  X(Counter, tcp_closed_not_in_tenant, "sekisho_tcp_connections_closed_total", "reason=\"not_in_tenant\"", "")     \
  X(Counter, tcp_closed_frame_timeout, "sekisho_tcp_connections_closed_total", "reason=\"frame_timeout\"", "")     \
  X(Counter, doh_closed_per_address, "sekisho_doh_connections_closed_total", "reason=\"per_address_limit\"",       \
    "DoH connections closed on accept: over server.tcp.max_connections_per_address (counted with the client's "    \
    "TCP and DoT connections).")                                                                                   \
  X(Counter, udp_send_errors, "sekisho_udp_send_errors_total", "",                                                 \
    "UDP answers that could not be sent (socket buffer full, peer unreachable).")                                  \
  X(Counter, rrl_slipped, "sekisho_rrl_responses_total", "action=\"slipped\"",                                     \
    "UDP answers over their prefix's response rate (limits.rrl_responses_per_second): sent empty with TC=1 "       \
    "(slipped) or not sent (dropped).")                                                                            \
  X(Counter, rrl_dropped, "sekisho_rrl_responses_total", "action=\"dropped\"", "")                                 \
  X(Counter, quota_refused, "sekisho_limited_queries_total", "reason=\"tenant_quota\"",                            \
    "Queries answered at once because a limit was reached: a tenant's query quota (REFUSED + EDE 18), or the "     \
    "queries of a client or of a tenant waiting on upstreams (stale data, else SERVFAIL + EDE 0).")                \
  X(Counter, upstream_limited_client, "sekisho_limited_queries_total", "reason=\"upstream_per_client\"", "")       \
  X(Counter, upstream_limited_tenant, "sekisho_limited_queries_total", "reason=\"upstream_per_tenant\"", "")       \
  X(Counter, any_minimal, "sekisho_any_minimal_total", "",                                                         \
    "ANY queries answered with the synthesized HINFO of RFC 8482 instead of being forwarded.")                     \
  X(Counter, local_answered, "sekisho_local_names_total", "result=\"answered\"",                                    \
    "Queries a tenant's local names decided: answered from its local records and zones, or sent to the "          \
    "resolvers of one of its forward zones (split DNS).")                                                          \
  X(Counter, local_forwarded, "sekisho_local_names_total", "result=\"forwarded\"", "")

// Counted by every loop's forwarder (resolver/upstream/forwarder.h), over all upstreams.
#define SEKISHO_FORWARDER_COUNTERS(X)                                                                  \
  X(Counter, upstream_queries, "sekisho_forwarder_attempts_total", "",                                 \
    "Upstream attempts the loops started (all upstreams, those that could not be sent included).")     \
  X(Counter, coalesced, "sekisho_forwarder_joined_total", "loop=\"same\"",                             \
    "Cache misses that waited for an identical query already in flight, on the same loop or another, " \
    "instead of asking an upstream.")                                                                  \
  X(Counter, joined_other_loop, "sekisho_forwarder_joined_total", "loop=\"other\"", "")                \
  X(Counter, timeouts, "sekisho_forwarder_timeouts_total", "", "Upstream attempts that timed out.")    \
  X(Counter, network_errors, "sekisho_forwarder_network_errors_total", "",                             \
    "Upstream attempts that failed to send or whose connection failed.")                               \
  X(Counter, truncated_retries, "sekisho_forwarder_truncated_retries_total", "",                       \
    "Truncated UDP answers asked again over TCP.")                                                     \
  X(Counter, failed, "sekisho_forwarder_failed_total", "",                                             \
    "Upstream queries whose every attempt failed (their waiters got stale data or SERVFAIL).")         \
  X(Counter, socket_limited, "sekisho_forwarder_socket_limit_total", "",                               \
    "Upstream queries not sent because the loop's upstream UDP sockets were all in use "               \
    "(forwarding.max_upstream_sockets or the loop's share of the descriptor limit): SERVFAIL + EDE 0.") \
  X(Gauge, upstream_sockets_open, "sekisho_forwarder_upstream_sockets_open", "",                       \
    "UDP sockets open toward upstreams now (one per attempt in flight).")

// Counted by every loop when a category store is configured, and only then in /metrics.
#define SEKISHO_STORE_COUNTERS(X)                                                                  \
  X(Counter, category_memo_hits, "sekisho_category_memo_lookups_total", "result=\"hit\"",          \
    "Category lookups of names the serving loops remembered (hit) or read from the store (miss).") \
  X(Counter, category_memo_misses, "sekisho_category_memo_lookups_total", "result=\"miss\"", "")   \
  X(Counter, store_unavailable, "sekisho_category_store_unavailable_total", "",                    \
    "Receive batches whose queries were not looked up in the category store because it could not be read.")

// Per upstream address, by every loop's TCP pool (resolver/upstream/tcp_pool.h: plain TCP and
// DNS over TLS); the series are labelled upstream="<address>" and are EngineSample::Upstream::tcp.
#define SEKISHO_UPSTREAM_TCP_COUNTERS(X)                                                                 \
  X(Counter, connections_opened, "sekisho_upstream_tcp_connections_opened_total", "",                    \
    "TCP connections opened to each upstream (kept open and reused; TLS ones included).")                \
  X(Counter, resent, "sekisho_upstream_tcp_queries_resent_total", "",                                    \
    "Queries sent again after the upstream closed their TCP connection.")                                \
  X(Counter, retired_silent, "sekisho_upstream_tcp_connections_retired_total", "",                       \
    "TCP connections given up after a query timed out with no answer on them since it was sent.")        \
  X(Gauge, connections_open, "sekisho_upstream_tcp_connections_open", "",                                \
    "TCP connections to each upstream now open or connecting.")                                          \
  X(Counter, queries_reused, "sekisho_upstream_tcp_queries_reused_total", "",                            \
    "Queries put on a TCP or TLS connection that was already open (connection reuse).")                  \
  X(Counter, tls_handshakes_new, "sekisho_upstream_tls_handshakes_total", "session=\"new\"",             \
    "TLS handshakes completed with each upstream, by whether an earlier session was resumed.")           \
  X(Counter, tls_handshakes_resumed, "sekisho_upstream_tls_handshakes_total", "session=\"resumed\"", "") \
  X(Counter, tls_failures, "sekisho_upstream_tls_failures_total", "",                                    \
    "TLS connections to each upstream that failed: the handshake (certificate not trusted, wrong name, " \
    "pin mismatch) or a record. Each fails its queries' attempts like any network error.")

// ---- the types of the `type` column, as a loop keeps them and as EngineSample holds them ----

// The transports' labels, indexed by resolver::Transport (worker.h checks the two agree).
inline constexpr std::array<std::string_view, 4> kTransportLabels = {"udp", "tcp", "dot", "doh"};

struct PerTransport : std::array<Counter, kTransportLabels.size()> {};

// Answer latency from receipt to the answer leaving the pipeline, in µs. Bucket i counts
// latencies <= kBoundsUs[i] and above the previous bound; the last bucket is everything slower.
struct LatencyHistogram {
  static constexpr uint64_t kBoundsUs[] = {100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000};
  static constexpr size_t kBuckets = std::size(kBoundsUs) + 1;
  Counter buckets[kBuckets];
  Counter sum_us;
  void observe(uint64_t us) {
    size_t i = 0;
    while (i < std::size(kBoundsUs) && us > kBoundsUs[i]) ++i;
    ++buckets[i];
    sum_us += us;
  }
};

// A histogram as sampled: per-bucket (not cumulative) counts for bounds_us, then +Inf. Empty
// when there is nothing to report (no loop running).
struct HistogramSample {
  std::vector<uint64_t> bounds_us;
  std::vector<uint64_t> buckets;
  uint64_t sum_us = 0;
};

// What a loop's counter is in EngineSample, and its Prometheus TYPE.
template <class T> struct Sampled;
template <> struct Sampled<Counter> {
  using value_type = uint64_t;
  static constexpr const char* kMetricType = "counter";
};
template <> struct Sampled<Gauge> {
  using value_type = uint64_t;
  static constexpr const char* kMetricType = "gauge";
};
template <> struct Sampled<PerTransport> {
  using value_type = std::array<uint64_t, kTransportLabels.size()>;
  static constexpr const char* kMetricType = "counter";
};
template <> struct Sampled<LatencyHistogram> {
  using value_type = HistogramSample;
  static constexpr const char* kMetricType = "histogram";
};

// What an entry says besides its value, for /metrics and the exit line.
struct CounterInfo {
  std::string_view field;
  std::string_view family;
  std::string_view labels;
  std::string_view help;
  std::string_view metric_type;  // "counter", "gauge", "histogram"
};

// Expansions of an entry, for the lists above.
#define SEKISHO_COUNTER_FIELD(T, field, family, labels, help) T field;
#define SEKISHO_SAMPLE_FIELD(T, field, family, labels, help) ::sekisho::resolver::Sampled<T>::value_type field{};
#define SEKISHO_COUNTER_INFO(T, field, family, labels, help) \
  ::sekisho::resolver::CounterInfo{#field, family, labels, help, ::sekisho::resolver::Sampled<T>::kMetricType}
#define SEKISHO_VISIT_ONE(T, field, family, labels, help) \
  visit(SEKISHO_COUNTER_INFO(T, field, family, labels, help), a.field);
#define SEKISHO_VISIT_TWO(T, field, family, labels, help) \
  visit(SEKISHO_COUNTER_INFO(T, field, family, labels, help), a.field, b.field);
#define SEKISHO_VISIT_MEMBER(T, field, family, labels, help) \
  visit(SEKISHO_COUNTER_INFO(T, field, family, labels, help), &A::field);

// visit_<list>(a, visit) calls visit(info, a.field) for every entry of the list, in its order;
// visit_<list>(a, b, visit) calls visit(info, a.field, b.field), and
// visit_<list>_members<A>(visit) calls visit(info, &A::field). `a`, `b` and A are structs made
// from that list: a loop's counters (SEKISHO_COUNTER_FIELD) or their sample (SEKISHO_SAMPLE_FIELD).
#define SEKISHO_DEFINE_COUNTER_VISITOR(name, LIST)                                                          \
  template <class A, class Visit> void name(A& a, Visit&& visit) { LIST(SEKISHO_VISIT_ONE) }                \
  template <class A, class B, class Visit> void name(A& a, B& b, Visit&& visit) { LIST(SEKISHO_VISIT_TWO) } \
  template <class A, class Visit> void name##_members(Visit&& visit) { LIST(SEKISHO_VISIT_MEMBER) }
SEKISHO_DEFINE_COUNTER_VISITOR(visit_loop_counters, SEKISHO_LOOP_COUNTERS)
SEKISHO_DEFINE_COUNTER_VISITOR(visit_forwarder_counters, SEKISHO_FORWARDER_COUNTERS)
SEKISHO_DEFINE_COUNTER_VISITOR(visit_store_counters, SEKISHO_STORE_COUNTERS)
SEKISHO_DEFINE_COUNTER_VISITOR(visit_upstream_tcp_counters, SEKISHO_UPSTREAM_TCP_COUNTERS)
#undef SEKISHO_DEFINE_COUNTER_VISITOR

// A loop's counter added into its sample (Engine::sample()): visit_<list>(sample, counters, add_into).
struct AddInto {
  void operator()(const CounterInfo&, uint64_t& total, const Counter& c) const { total += c.load(); }
  void operator()(const CounterInfo&, Sampled<PerTransport>::value_type& total, const PerTransport& c) const {
    for (size_t t = 0; t < c.size(); ++t) total[t] += c[t].load();
  }
  void operator()(const CounterInfo&, HistogramSample& total, const LatencyHistogram& h) const {
    if (total.buckets.empty()) {
      total.bounds_us.assign(std::begin(h.kBoundsUs), std::end(h.kBoundsUs));
      total.buckets.assign(h.kBuckets, 0);
    }
    for (size_t b = 0; b < h.kBuckets; ++b) total.buckets[b] += h.buckets[b].load();
    total.sum_us += h.sum_us.load();
  }
};
inline constexpr AddInto add_into;

}  // namespace sekisho::resolver
