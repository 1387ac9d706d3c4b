// The configured upstream resolvers and their health, shared by all loops of one config
// generation. Health is a few relaxed atomics: a slightly stale view costs at most one wasted
// attempt, which the retry logic absorbs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.h"
#include "resolver/upstream/exchange.h"

namespace sekisho::upstream {

struct Upstream {
  config::UpstreamSettings settings;
  std::string name;  // "127.0.0.1:5399", for logs and EDE text
  TlsTarget tls;     // transport: tls or https; its context is built once and shared by every loop
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint64_t> down_until_ms{0};
  std::atomic<uint64_t> queries{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> response_us_total{0};  // over `queries` (answered attempts): mean latency
};

class UpstreamSet {
 public:
  explicit UpstreamSet(const std::vector<config::UpstreamSettings>& settings);

  size_t size() const { return upstreams_.size(); }
  Upstream& at(size_t i) const { return *upstreams_[i]; }

  // What an attempt on upstream i is sent over: its own TCP pool connections unless plain UDP.
  bool over_stream(size_t i) const { return upstreams_[i]->settings.transport != config::UpstreamTransport::udp; }
  const TlsTarget* tls_target(size_t i) const {
    const auto t = upstreams_[i]->settings.transport;
    return t == config::UpstreamTransport::tls || t == config::UpstreamTransport::https ? &upstreams_[i]->tls : nullptr;
  }

  // Picks the next upstream to try: round robin over healthy ones not yet tried for this
  // query (`tried` is a bitmask of indexes); when all untried ones are marked down, the one
  // whose back-off ends first, so a query never fails without trying something.
  size_t pick(uint64_t tried, uint64_t now_ms, uint32_t& round_robin) const;

  // `latency_us`: from sending the attempt to its usable answer (a TC=1 retry over TCP included).
  void report_success(size_t i, uint64_t latency_us) const;
  void report_failure(size_t i, uint64_t now_ms) const;

  static constexpr uint32_t kFailuresBeforeDown = 3;
  static constexpr uint64_t kDownForMs = 5000;

 private:
  std::vector<std::unique_ptr<Upstream>> upstreams_;
};

}  // namespace sekisho::upstream
