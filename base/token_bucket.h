// base/token_bucket.h — a token bucket: `rate` tokens a second, at most `burst` saved up. Used
// where a client or tenant may spend something at a sustained rate with short bursts above it
// (sekisho-intercept's certificate mints per client, bytes forwarded per tenant).
//
// Integer arithmetic in micro-tokens, so no rounding drifts over a long run; the caller passes
// the time (monotonic milliseconds), so tests drive it without sleeping. A balance may go below
// zero (take_debt): bytes already read must be counted; the debt is what the caller waits out.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sekisho::base {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(uint64_t rate_per_second, uint64_t burst, uint64_t now_ms)
      : rate_(rate_per_second), burst_micro_(burst * kMicro), balance_micro_(static_cast<int64_t>(burst * kMicro)),
        last_ms_(now_ms) {}

  // Takes `n` tokens when there are that many: true. Otherwise takes nothing: false.
  bool take(uint64_t n, uint64_t now_ms) {
    refill(now_ms);
    const int64_t need = static_cast<int64_t>(n * kMicro);
    if (balance_micro_ < need) return false;
    balance_micro_ -= need;
    return true;
  }

  // Takes `n` tokens whatever the balance (it may go negative).
  void take_debt(uint64_t n, uint64_t now_ms) {
    refill(now_ms);
    balance_micro_ -= static_cast<int64_t>(n * kMicro);
  }

  // Milliseconds until the balance is back to zero (0 when it is not negative).
  uint64_t ms_until_even(uint64_t now_ms) {
    refill(now_ms);
    if (balance_micro_ >= 0 || rate_ == 0) return 0;
    // micro-tokens per ms = rate * 1000; round up so the wait is never short.
    const uint64_t per_ms = rate_ * (kMicro / 1000);
    return (static_cast<uint64_t>(-balance_micro_) + per_ms - 1) / per_ms;
  }

  // True when nothing has been spent that is not refilled by now (the bucket is full).
  bool full(uint64_t now_ms) const { return balance_at(now_ms) >= static_cast<int64_t>(burst_micro_); }

  uint64_t rate() const { return rate_; }

 private:
  static constexpr uint64_t kMicro = 1000000;

  int64_t balance_at(uint64_t now_ms) const {
    if (now_ms <= last_ms_) return balance_micro_;
    // Capped before multiplying: an hour idle must not overflow (rates up to 10^9 a second).
    const uint64_t add = std::min<uint64_t>(now_ms - last_ms_, 3600000) * rate_ * (kMicro / 1000);
    return std::min<int64_t>(static_cast<int64_t>(burst_micro_), balance_micro_ + static_cast<int64_t>(add));
  }

  void refill(uint64_t now_ms) {
    balance_micro_ = balance_at(now_ms);
    last_ms_ = std::max(last_ms_, now_ms);
  }

  uint64_t rate_ = 0;
  uint64_t burst_micro_ = 0;
  int64_t balance_micro_ = 0;
  uint64_t last_ms_ = 0;
};

}  // namespace sekisho::base
