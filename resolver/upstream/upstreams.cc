#include "resolver/upstream/upstreams.h"

#include "base/log.h"

namespace sekisho::upstream {

UpstreamSet::UpstreamSet(const std::vector<config::UpstreamSettings>& settings) {
  for (const auto& s : settings) {
    auto u = std::make_unique<Upstream>();
    u->settings = s;
    u->name = s.address.to_string();
    if (s.transport == config::UpstreamTransport::tls || s.transport == config::UpstreamTransport::https) {
      // ALPN "dot" (RFC 7858 §3.1 registers it; servers that do not know it carry on without),
      // "h2" for DoH (RFC 8484 §5.2: HTTP/2 is the minimum recommended; we speak nothing older).
      const bool doh = s.transport == config::UpstreamTransport::https;
      u->tls.name = s.tls_name;
      u->tls.http_authority = s.http_authority;
      u->tls.http_path = s.http_path;
      u->tls.context = net::tls::ClientContext::make({s.ca_file, s.spki_sha256, {doh ? "h2" : "dot"}}, u->tls.error);
      if (!u->tls.context)
        log::error("upstream", "TLS upstream unusable: its attempts fail", {{"upstream", u->name}, {"error", u->tls.error}});
    }
    upstreams_.push_back(std::move(u));
  }
}

size_t UpstreamSet::pick(uint64_t tried, uint64_t now_ms, uint32_t& round_robin) const {
  const size_t n = upstreams_.size();
  size_t fallback = n;
  uint64_t fallback_until = UINT64_MAX;
  bool all_tried = true;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (round_robin + k) % n;
    if (i < 64 && (tried >> i) & 1) continue;
    all_tried = false;
    uint64_t until = upstreams_[i]->down_until_ms.load(std::memory_order_relaxed);
    if (until <= now_ms) {
      round_robin = static_cast<uint32_t>(i + 1);
      return i;
    }
    if (until < fallback_until) {
      fallback_until = until;
      fallback = i;
    }
  }
  if (!all_tried) return fallback;
  // Everything was tried once already: go round again rather than give up early.
  size_t i = round_robin % n;
  round_robin = static_cast<uint32_t>(i + 1);
  return i;
}

void UpstreamSet::report_success(size_t i, uint64_t latency_us) const {
  Upstream& u = *upstreams_[i];
  u.queries.fetch_add(1, std::memory_order_relaxed);
  u.response_us_total.fetch_add(latency_us, std::memory_order_relaxed);
  if (u.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    u.consecutive_failures.store(0, std::memory_order_relaxed);
    u.down_until_ms.store(0, std::memory_order_relaxed);
  }
}

void UpstreamSet::report_failure(size_t i, uint64_t now_ms) const {
  Upstream& u = *upstreams_[i];
  u.queries.fetch_add(1, std::memory_order_relaxed);
  u.failures.fetch_add(1, std::memory_order_relaxed);
  if (u.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 >= kFailuresBeforeDown)
    u.down_until_ms.store(now_ms + kDownForMs, std::memory_order_relaxed);
}

}  // namespace sekisho::upstream
