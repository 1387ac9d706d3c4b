// Bytes the intercept forwards, per tenant and per destination host, and each tenant's optional
// bandwidth limit (issue 19: "restrict the heavy user, tell its admin which destinations").
//
// - Counting: every byte of a forwarded request or response (heads and bodies, WebSocket frames)
//   is added to its tenant and to the destination host within the tenant. Hosts are a bounded
//   table per tenant (kMaxHosts); when it is full, a new host takes the place of the one with the
//   fewest bytes, whose bytes go to "_other", so the busiest destinations stay named and the sum
//   stays exact. Host names come from clients (Host / SNI of inspected hosts), so the table
//   hashes with the process's key (base/keyed_hash.h).
// - Limit: a token bucket per tenant (base/token_bucket.h) of limit bytes a second, one quarter
//   second of burst (so a transfer's average stays near the limit instead of a second above it).
//   Bytes are charged when they are read; when the bucket is in debt the relays of that tenant
//   stop reading (origin) or acknowledging (client uploads) until it is even again: connections
//   are slowed, never cut.
// - Who caused it: bytes per host since the tenant's previous pause; at a pause the top
//   destinations of that window are kept (limited_by, for the API) and logged, at most once per
//   kLogEveryMs per tenant.
//
// Tenants are keyed by id, so counts survive a reload that reorders tenants. One loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/keyed_hash.h"
#include "base/token_bucket.h"
#include "intercept/status.h"

namespace sekisho::intercept {

class TrafficMeter {
 public:
  static constexpr size_t kMaxHosts = 256;      // named destinations per tenant
  static constexpr size_t kTopReported = 20;    // destinations in the status file per tenant
  static constexpr size_t kTopLimited = 5;      // destinations named when a limit is reached
  static constexpr uint64_t kLogEveryMs = 10000;

  // Limits by tenant id (bytes a second; 0 = none); tenants not listed get `default_limit`.
  void set_limits(std::map<std::string, uint64_t> limits, uint64_t default_limit, uint64_t now_ms);

  // Counts bytes of `host` for `tenant` (in: toward the client, out: toward the origin) and
  // charges the tenant's bucket. True when the tenant is now over its limit: the caller pauses.
  bool count(const std::string& tenant, const std::string& host, uint64_t in, uint64_t out, uint64_t now_ms);

  // Milliseconds until `tenant` may move bytes again (0: now).
  uint64_t wait_ms(const std::string& tenant, uint64_t now_ms);

  // A relay of `tenant` paused for the limit: counted, and the window's top hosts recorded
  // (and logged, rate-limited).
  void paused(const std::string& tenant, uint64_t now_ms, int64_t now_unix);

  // Every tenant seen, for the status file.
  std::vector<TenantTraffic> report() const;

 private:
  struct Host {
    uint64_t bytes_in = 0, bytes_out = 0;
    uint64_t window_in = 0, window_out = 0;  // bytes since the tenant's last pause
  };
  struct Tenant {
    uint64_t bytes_in = 0, bytes_out = 0;
    uint64_t limit = 0;
    base::TokenBucket bucket;
    uint64_t pauses = 0;
    int64_t last_limited = 0;
    uint64_t last_log_ms = 0;
    std::unordered_map<std::string, Host, base::KeyedStringHash> hosts;
    Host other;  // hosts evicted from the table, summed
    std::vector<DestinationBytes> limited_by;
  };
  Tenant& tenant(const std::string& id, uint64_t now_ms);
  static void configure(Tenant& t, uint64_t limit, uint64_t now_ms);

  std::map<std::string, Tenant> tenants_;
  std::map<std::string, uint64_t> limits_;
  uint64_t default_limit_ = 0;
};

}  // namespace sekisho::intercept
