// What sekisho-intercept counts, and the status file through which sekishod's admin API and
// /metrics see it (the intercept is a process of its own, under its own user; it shares no
// memory with sekishod).
//
// Why a file: sekisho-feed already reports this way (feed/status.h), in the same directory the
// `sekisho` group shares beside the category store, so sekishod reads it with the rights it has.
// An HTTP status endpoint in the intercept would need a listener, its own access control and an
// HTTP client in sekishod's admin thread; a file costs one atomic rewrite every
// intercept.limits.status_interval_ms (2 s) and is at most that old when read.
//
// The counter list follows resolver/counters.h: each X(...) entry below is a field of
// InterceptCounters, its key in the status file and its series in /metrics (admin/api/metrics.cc
// renders every entry); a new counter is one line here plus its increment.
//
// Columns: X(type, field, family, labels, help) — type Counter (a total) or Gauge (a level).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"

namespace sekisho::intercept {

#define SEKISHO_INTERCEPT_COUNTERS(X)                                                                               \
  X(Counter, requests, "sekisho_intercept_requests_total", "",                                                     \
    "HTTP requests sekisho-intercept answered (block pages, refusals and forwarded requests).")                    \
  X(Counter, forwarded, "sekisho_intercept_forwarded_requests_total", "",                                          \
    "Requests of deep-inspected hosts forwarded to their origin.")                                                 \
  X(Counter, bytes_in, "sekisho_intercept_forwarded_bytes_total", "direction=\"in\"",                              \
    "Bytes forwarded: in = from origins to the tenants' clients, out = from the clients to origins.")              \
  X(Counter, bytes_out, "sekisho_intercept_forwarded_bytes_total", "direction=\"out\"", "")                        \
  X(Counter, bandwidth_pauses, "sekisho_intercept_bandwidth_pauses_total", "",                                     \
    "Times a tenant's forwarded connection was paused for its bandwidth limit (slowed, not cut).")                 \
  X(Counter, tls_refused_name, "sekisho_intercept_tls_refused_total", "reason=\"name\"",                           \
    "TLS handshakes refused: a name not blocked or inspected for the client (or no CA), or a new certificate "     \
    "over the client's mint rate (intercept.limits.mints_per_second_per_client).")                                 \
  X(Counter, tls_refused_mint_rate, "sekisho_intercept_tls_refused_total", "reason=\"mint_rate\"", "")             \
  X(Counter, leaf_minted, "sekisho_intercept_leaf_certificates_minted_total", "",                                  \
    "Leaf certificates minted (not found in memory or on disk).")                                                  \
  X(Counter, leaf_files_deleted, "sekisho_intercept_leaf_cache_deleted_total", "",                                 \
    "Leaf certificate files deleted: expired, over intercept.limits.cert_cache_disk_entries or _bytes, or "        \
    "left by a crash.")                                                                                            \
  X(Gauge, leaf_files, "sekisho_intercept_leaf_cache_files", "", "Leaf certificate files on disk now.")            \
  X(Gauge, leaf_file_bytes, "sekisho_intercept_leaf_cache_bytes", "", "Their total size in bytes.")

struct InterceptCounters {
#define SEKISHO_INTERCEPT_FIELD(type, field, family, labels, help) uint64_t field = 0;
  SEKISHO_INTERCEPT_COUNTERS(SEKISHO_INTERCEPT_FIELD)
#undef SEKISHO_INTERCEPT_FIELD
};

struct CounterDescription {
  std::string_view type;  // "counter" or "gauge"
  std::string_view field, family, labels, help;
  uint64_t InterceptCounters::*member;
};

// The list above as data, in order.
const std::vector<CounterDescription>& counter_descriptions();

// Bytes of one destination host for one tenant (in: to the tenant's clients; out: from them).
struct DestinationBytes {
  std::string host;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

struct TenantTraffic {
  std::string tenant;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t limit_bytes_per_second = 0;  // 0: none
  uint64_t bandwidth_pauses = 0;
  int64_t last_limited = 0;  // Unix seconds of the last pause; 0: never
  std::vector<DestinationBytes> destinations;  // the busiest, most bytes first ("_other": the rest summed)
  std::vector<DestinationBytes> limited_by;    // the busiest destinations between the last two pauses
};

struct InterceptStatus {
  int64_t time = 0;   // Unix seconds when written
  int64_t started = 0;
  InterceptCounters counters;
  std::vector<TenantTraffic> tenants;  // by tenant id
};

// intercept.status_directory, else "intercept-status" beside the category store; empty when
// neither is configured (no status file).
std::string status_directory(const config::Settings& settings);
std::string status_path(const std::string& dir);  // <dir>/intercept.json

std::string to_json(const InterceptStatus& s);
// nullopt when there is no file; throws std::runtime_error naming the file when it is unreadable.
std::optional<InterceptStatus> read_status(const std::string& path);

}  // namespace sekisho::intercept
