// A warning that repeats under attack (a limit reached by every query of a flood) is written at
// most once per period, saying how many events it stands for: a flood costs one line per period,
// never one per query, and the operator still learns that it goes on and how much.
#pragma once

#include <cstdint>
#include <utility>

namespace sekisho::log {

class Throttle {
 public:
  explicit Throttle(uint64_t period_ms = 10000) : period_ms_(period_ms) {}

  // Counts one event at `now_ms`. Returns how many events the line written now stands for (this
  // one and those since the last line), or 0 when no line is due yet.
  uint64_t event(uint64_t now_ms) {
    ++since_;
    if (logged_ && now_ms - logged_ms_ < period_ms_) return 0;
    logged_ = true;
    logged_ms_ = now_ms;
    return std::exchange(since_, 0);
  }

 private:
  uint64_t period_ms_;
  uint64_t logged_ms_ = 0;
  bool logged_ = false;
  uint64_t since_ = 0;
};

}  // namespace sekisho::log
