// A count that one thread writes and any thread may read: an event loop's counters, read by the
// admin thread for /metrics. A relaxed atomic load and store, never a read-modify-write: with a
// single writer, ++ is load + add + store and loses nothing, and on x86-64 it compiles to plain
// moves (no lock prefix), so the query path pays what it paid for a plain integer. A reader sees
// a whole value at most a few increments old. Two threads must never write one Counter.
#pragma once

#include <atomic>
#include <cstdint>

namespace sekisho {

class Counter {
 public:
  constexpr Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  uint64_t load() const { return value_.load(std::memory_order_relaxed); }
  operator uint64_t() const { return load(); }

  Counter& operator++() { return *this += 1; }
  Counter& operator+=(uint64_t n) {
    value_.store(load() + n, std::memory_order_relaxed);
    return *this;
  }
  // A total kept elsewhere, copied in by the writer (e.g. the category memo's hit count).
  Counter& operator=(uint64_t n) {
    value_.store(n, std::memory_order_relaxed);
    return *this;
  }

 private:
  std::atomic<uint64_t> value_{0};
};

// A level rather than a total (connections open now): a Counter that also goes down.
class Gauge : public Counter {
 public:
  using Counter::operator=;
  Gauge& operator--() {
    *this = load() - 1;
    return *this;
  }
};

}  // namespace sekisho
