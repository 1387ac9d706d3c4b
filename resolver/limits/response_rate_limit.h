// Response rate limiting (RRL) of UDP answers, as BIND's and Knot's: answers per second per
// client prefix (/24, /56 by default) and kind of answer. A client over its rate gets every
// `slip`th answer as an empty TC=1 (a real client retries over TCP, which a spoofed source cannot
// complete) and the others dropped; a forged-source flood aimed at a victim through us is cut to
// the rate in answers and to small ones in bytes.
//
// One table per loop, fixed size, made once: the hot path allocates nothing and takes no lock.
// Entries are found by the keyed hash of (prefix, kind) (base/keyed_hash.h: a client cannot
// pick prefixes that share entries) among kWays neighbouring slots; a new key takes an idle one
// (its bucket full again: nothing is lost) or else the one closest to idle. A flood of many
// prefixes can so push out a limited prefix's entry early, which only ever admits more.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho::resolver::limits {

// What an answer says, as RRL keys it (Knot's classes, less the authoritative ones).
enum class ResponseKind : uint8_t { positive, nodata, nxdomain, error };
ResponseKind classify_response(std::span<const uint8_t> answer);
std::string_view kind_name(ResponseKind kind);

enum class RrlAction : uint8_t { send, slip, drop };

struct RrlPolicy {
  uint32_t rate = 0;  // answers per second per prefix and kind; 0 = no limit
  uint32_t slip = 2;  // every slip-th limited answer goes out truncated; 0 = none
  uint8_t v4_prefix = 24;
  uint8_t v6_prefix = 56;
};

class ResponseRateLimiter {
 public:
  static constexpr size_t kSlots = 16384;  // per loop: 384 KiB
  static constexpr size_t kWays = 4;

  ResponseRateLimiter() : slots_(kSlots) {}

  // The answer of `kind` to `peer` at `now_ns` (monotonic): send it, slip it, or drop it.
  RrlAction check(const sockaddr* peer, ResponseKind kind, const RrlPolicy& policy, uint64_t now_ns);

 private:
  struct Entry {
    uint64_t key = 0;  // keyed hash of prefix and kind; 0 = never used
    uint64_t tat = 0;  // gcra.h
    uint64_t limited = 0;  // answers limited so far, for the slip count
  };
  std::vector<Entry> slots_;
};

// "192.0.2.0/24", "2001:db8:0:100::/56": the prefix RRL counts `peer` under, for log lines.
std::string prefix_text(const sockaddr* peer, uint8_t v4_prefix, uint8_t v6_prefix);

}  // namespace sekisho::resolver::limits
