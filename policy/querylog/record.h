// policy/querylog/record.h — the fixed-size query-log record a loop pushes into its ring.
//
// Invariants: QueryRecord is trivially copyable, has a fixed size and holds no pointers, so a
// loop fills one on its stack and try_push copies it with memcpy: no allocation, no lock.
// Strings are inline and NUL-terminated (rule_text, device); qname is the uncompressed,
// lowercase wire form with its length in qname_len (0 = no name, e.g. a malformed query); only
// its first qname_len bytes are meaningful (see record_bytes).
// The record carries the tenant *index* and category *ids*, never strings: the writer thread
// turns them into text, off the query path.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "config/settings.h"
#include "dns/types.h"
#include "policy/rule_kind.h"
#include "policy/store/categories.h"

namespace sekisho::querylog {

// What happened to the query; "blocked" is the only action counted as blocked in statistics.
// inspected: answered with the intercept address for deep URL checks (policy deep_inspection).
// over_quota: REFUSED, the tenant's query quota was spent; upstream_limited: SERVFAIL, too many
// of the client's or the tenant's queries were waiting on upstreams (README "Rate limits and quotas").
// monitored: resolved (fresh or cached), but a monitor level or a policy in mode monitor saw
// a rule that enforce would have applied; the record names it (rule, categories).
// local: answered from the tenant's local records or zones (README "Local names and split DNS").
enum class QueryAction : uint8_t {
  resolved, cached, blocked, rewritten, refused, servfail, stale, malformed, inspected, over_quota, upstream_limited,
  monitored, local
};
// The last value: the query-log file's check of a record and the statistics' arrays follow it,
// so a new action is one line above (a record with an action past it is refused as damaged).
inline constexpr QueryAction kLastQueryAction = QueryAction::local;

// The record's vocabulary, each defined once in the layer it belongs to:
using policy::RuleKind;  // which rule decided the verdict (none for plain resolution)
using dns::Transport;    // how the query reached the server
// The tenant policy's `log` setting, copied per record because a reload may change it while
// records are still in the rings. `none` records reach the writer for statistics only.
using config::LogMode;

inline constexpr uint16_t kNoTenant = 0xFFFF;
inline constexpr uint8_t kNoUpstream = 0xFF;

// Aligned so that a ring slot starts on a cache line: a pushed record touches only the lines
// its used bytes need (record_bytes).
struct alignas(64) QueryRecord {
  int64_t time_us = 0;         // wall clock, µs since the Unix epoch (UTC)
  uint32_t latency_us = 0;     // received → answered
  uint16_t tenant = kNoTenant; // index into the tenant table current when the query was decided
  uint16_t qtype = 0;
  uint8_t rcode = 0;
  Transport transport = Transport::udp;
  QueryAction action = QueryAction::resolved;
  LogMode log_mode = LogMode::full;
  uint8_t client_family = 0;   // AF_INET (client[0..3]) or AF_INET6 (client[0..15]); 0 = unknown
  uint8_t client[16] = {};
  policy::CategorySet categories;  // every id 0–255 (policy/store/categories.h)
  // The Runtime generation the query was decided with (0 = unknown): the writer names the
  // category ids with that generation's registry (QueryLogWriter::add_category_registry).
  uint32_t generation = 0;
  RuleKind rule = RuleKind::none;
  char rule_text[64] = {};     // e.g. "badsite.example" or "mon-fri 09:00-18:00"; truncated to 63
  char device[32] = {};        // device name; empty until devices are identified
  uint8_t upstream = kNoUpstream;
  uint8_t qname_len = 0;
  uint8_t qname[255] = {};     // last: a ring copies only its first qname_len bytes
};

// The bytes of r that carry information: everything up to the name, and the name. The ring
// copies only these (a query's name is ~20 of qname's 255 bytes, and every byte a loop pushes
// is a cache line it dirties), so in a ring slot qname's bytes past qname_len are unspecified.
inline size_t record_bytes(const QueryRecord& r) noexcept { return offsetof(QueryRecord, qname) + r.qname_len; }

static_assert(std::is_trivially_copyable_v<QueryRecord>);
static_assert(sizeof(QueryRecord) <= 512, "the ring holds thousands of these per loop");

// Helpers for producers. All are noexcept and allocation-free (they run on the query path).

// Copies `text` into a fixed char array, truncating so that a NUL always fits.
template <size_t N>
inline void set_text(char (&dst)[N], std::string_view text) noexcept {
  const size_t n = std::min(text.size(), N - 1);
  std::memcpy(dst, text.data(), n);
  std::memset(dst + n, 0, N - n);
}

// Wire-format name; a name longer than 255 bytes (impossible for a decoded question) is dropped.
inline void set_qname(QueryRecord& r, std::span<const uint8_t> wire) noexcept {
  if (wire.size() > sizeof(r.qname)) {
    r.qname_len = 0;
    return;
  }
  std::memcpy(r.qname, wire.data(), wire.size());
  r.qname_len = static_cast<uint8_t>(wire.size());
}

inline void set_client_v4(QueryRecord& r, const uint8_t (&addr)[4]) noexcept {
  r.client_family = AF_INET;
  std::memset(r.client, 0, sizeof(r.client));
  std::memcpy(r.client, addr, 4);
}

inline void set_client_v6(QueryRecord& r, const uint8_t (&addr)[16]) noexcept {
  r.client_family = AF_INET6;
  std::memcpy(r.client, addr, 16);
}

}  // namespace sekisho::querylog
