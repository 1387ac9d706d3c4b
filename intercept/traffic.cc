#include "intercept/traffic.h"

#include <algorithm>

#include "base/log.h"

namespace sekisho::intercept {
namespace {

// A quarter second of the limit, at least 64 KiB (one TLS read): what a tenant may move at once.
uint64_t burst_of(uint64_t limit) { return std::max<uint64_t>(limit / 4, 64 * 1024); }

// Most bytes (both ways) first, then by name; at most n.
void sort_and_cut(std::vector<DestinationBytes>& list, size_t n) {
  std::sort(list.begin(), list.end(), [](const DestinationBytes& a, const DestinationBytes& b) {
    const uint64_t x = a.bytes_in + a.bytes_out, y = b.bytes_in + b.bytes_out;
    return x != y ? x > y : a.host < b.host;
  });
  if (list.size() > n) list.resize(n);
}

}  // namespace

void TrafficMeter::configure(Tenant& t, uint64_t limit, uint64_t now_ms) {
  if (t.limit == limit) return;
  t.limit = limit;
  t.bucket = limit ? base::TokenBucket(limit, burst_of(limit), now_ms) : base::TokenBucket();
}

void TrafficMeter::set_limits(std::map<std::string, uint64_t> limits, uint64_t default_limit, uint64_t now_ms) {
  limits_ = std::move(limits);
  default_limit_ = default_limit;
  for (auto& [id, t] : tenants_) {
    auto it = limits_.find(id);
    configure(t, it != limits_.end() && it->second ? it->second : default_limit_, now_ms);
  }
}

TrafficMeter::Tenant& TrafficMeter::tenant(const std::string& id, uint64_t now_ms) {
  auto [it, added] = tenants_.try_emplace(id);
  if (added) {
    auto l = limits_.find(id);
    configure(it->second, l != limits_.end() && l->second ? l->second : default_limit_, now_ms);
  }
  return it->second;
}

bool TrafficMeter::count(const std::string& id, const std::string& host, uint64_t in, uint64_t out, uint64_t now_ms) {
  Tenant& t = tenant(id, now_ms);
  t.bytes_in += in;
  t.bytes_out += out;
  auto h = t.hosts.find(host);
  if (h == t.hosts.end()) {
    if (t.hosts.size() >= kMaxHosts) {  // the quietest named host makes room, its bytes kept in _other
      auto least = std::min_element(t.hosts.begin(), t.hosts.end(), [](const auto& a, const auto& b) {
        return a.second.bytes_in + a.second.bytes_out < b.second.bytes_in + b.second.bytes_out;
      });
      t.other.bytes_in += least->second.bytes_in;
      t.other.bytes_out += least->second.bytes_out;
      t.hosts.erase(least);
    }
    h = t.hosts.emplace(host, Host{}).first;
  }
  h->second.bytes_in += in;
  h->second.bytes_out += out;
  h->second.window_in += in;
  h->second.window_out += out;
  if (!t.limit) return false;
  t.bucket.take_debt(in + out, now_ms);
  return t.bucket.ms_until_even(now_ms) > 0;
}

uint64_t TrafficMeter::wait_ms(const std::string& id, uint64_t now_ms) {
  auto it = tenants_.find(id);
  if (it == tenants_.end() || !it->second.limit) return 0;
  return it->second.bucket.ms_until_even(now_ms);
}

void TrafficMeter::paused(const std::string& id, uint64_t now_ms, int64_t now_unix) {
  Tenant& t = tenant(id, now_ms);
  ++t.pauses;
  t.last_limited = now_unix;
  std::vector<DestinationBytes> window;
  for (auto& [host, h] : t.hosts) {
    if (h.window_in || h.window_out) window.push_back({host, h.window_in, h.window_out});
    h.window_in = h.window_out = 0;
  }
  if (window.empty()) return;  // nothing moved since the previous pause: keep its names
  sort_and_cut(window, kTopLimited);
  t.limited_by = std::move(window);
  if (t.last_log_ms && now_ms - t.last_log_ms < kLogEveryMs) return;
  t.last_log_ms = now_ms;
  std::string names;
  for (const auto& d : t.limited_by)
    names += (names.empty() ? "" : ",") + d.host + ":" + std::to_string(d.bytes_in + d.bytes_out);
  log::warning("intercept", "tenant over its bandwidth limit; its forwarded connections are slowed",
               {{"tenant", id}, {"limit_bytes_per_second", t.limit}, {"top_destinations", names}});
}

std::vector<TenantTraffic> TrafficMeter::report() const {
  std::vector<TenantTraffic> out;
  for (const auto& [id, t] : tenants_) {
    TenantTraffic r;
    r.tenant = id;
    r.bytes_in = t.bytes_in;
    r.bytes_out = t.bytes_out;
    r.limit_bytes_per_second = t.limit;
    r.bandwidth_pauses = t.pauses;
    r.last_limited = t.last_limited;
    r.limited_by = t.limited_by;
    for (const auto& [host, h] : t.hosts) r.destinations.push_back({host, h.bytes_in, h.bytes_out});
    sort_and_cut(r.destinations, r.destinations.size());
    DestinationBytes rest{"_other", t.other.bytes_in, t.other.bytes_out};
    while (r.destinations.size() > kTopReported) {
      rest.bytes_in += r.destinations.back().bytes_in;
      rest.bytes_out += r.destinations.back().bytes_out;
      r.destinations.pop_back();
    }
    if (rest.bytes_in || rest.bytes_out) r.destinations.push_back(rest);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sekisho::intercept
