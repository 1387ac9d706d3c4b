// policy/querylog/stats.cc — see stats.h. Writer thread (under the writer's stats mutex) only.
#include "policy/querylog/stats.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

#include "policy/querylog/format.h"
#include "policy/store/name_index.h"

namespace sekisho::querylog {
namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b) != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// Blocked names are counted by their wire form (lower-case, as the record holds it) and
// spelled out for reports only.
std::string name_text(std::string_view wire) {
  char text[kMaxPresentationName];
  return std::string(text, write_presentation_name(text, reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
}

}  // namespace

// ---- HeavyHitters ------------------------------------------------------------------------------

HeavyHitters::HeavyHitters(size_t capacity, KeyText text)
    : capacity_(std::max<size_t>(capacity, 1)),
      text_(text),
      index_(std::bit_ceil(2 * capacity_)),
      mask_(index_.size() - 1) {
  heap_.reserve(capacity_);
}

namespace {
constexpr uint64_t kKeySeed = 0x5e6b15b0a5e6b15bULL;  // any constant: the table is per process
}  // namespace

size_t HeavyHitters::free_entry(uint64_t hash) const {
  size_t e = hash & mask_;
  while (index_[e] != 0) e = (e + 1) & mask_;
  return e;
}

void HeavyHitters::add(std::string_view key) {
  const uint64_t hash = policy::name_index::key_hash(key.data(), key.size(), kKeySeed);
  for (size_t e = hash & mask_; index_[e] != 0; e = (e + 1) & mask_) {
    const size_t i = index_[e] - 1;
    if (heap_[i].hash == hash && heap_[i].key == key) {
      ++heap_[i].count;
      sift_down(i);  // a larger count moves away from the root of a min-heap
      return;
    }
  }
  if (heap_.size() < capacity_) {
    const size_t e = free_entry(hash);
    heap_.push_back(Slot{std::string(key), 1, 0, hash, e});
    index_[e] = static_cast<uint32_t>(heap_.size());
    sift_up(heap_.size() - 1);
    return;
  }
  // Replace the minimum: the newcomer may have occurred up to min times unseen.
  Slot& root = heap_[0];
  unlink(root.where);
  root.error = root.count;
  ++root.count;
  root.key.assign(key);
  root.hash = hash;
  root.where = free_entry(hash);  // after unlink, which may have moved entries
  index_[root.where] = 1;
  sift_down(0);
}

// Backward-shift deletion: each follower in the run moves back into the hole unless its home
// entry lies after the hole, so every key stays reachable from its home without tombstones.
void HeavyHitters::unlink(size_t hole) {
  for (size_t e = (hole + 1) & mask_; index_[e] != 0; e = (e + 1) & mask_) {
    Slot& s = heap_[index_[e] - 1];
    const size_t home = s.hash & mask_;
    if (((e - home) & mask_) >= ((e - hole) & mask_)) {
      index_[hole] = index_[e];
      s.where = hole;
      hole = e;
    }
  }
  index_[hole] = 0;
}

std::vector<TopEntry> HeavyHitters::top(size_t n) const {
  std::vector<TopEntry> all;
  all.reserve(heap_.size());
  for (const Slot& s : heap_) all.push_back(TopEntry{text_ ? text_(s.key) : s.key, s.count, s.error});
  const size_t k = std::min(n, all.size());
  // Ties by text so reports are stable between calls.
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [](const TopEntry& a, const TopEntry& b) {
                      return a.count != b.count ? a.count > b.count : a.key < b.key;
                    });
  all.resize(k);
  return all;
}

void HeavyHitters::swap_slots(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  index_[heap_[a].where] = static_cast<uint32_t>(a + 1);
  index_[heap_[b].where] = static_cast<uint32_t>(b + 1);
}

void HeavyHitters::sift_up(size_t i) {
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap_[parent].count <= heap_[i].count) break;
    swap_slots(parent, i);
    i = parent;
  }
}

void HeavyHitters::sift_down(size_t i) {
  for (;;) {
    const size_t l = 2 * i + 1, r = l + 1;
    size_t smallest = i;
    if (l < heap_.size() && heap_[l].count < heap_[smallest].count) smallest = l;
    if (r < heap_.size() && heap_[r].count < heap_[smallest].count) smallest = r;
    if (smallest == i) return;
    swap_slots(i, smallest);
    i = smallest;
  }
}

// ---- DeviceCounter -----------------------------------------------------------------------------

size_t DeviceCounter::KeyHash::operator()(const Key& k) const noexcept {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

DeviceCounter::DeviceCounter(size_t max_tracked, int64_t window_s)
    : max_tracked_(max_tracked), window_s_(window_s) {}

bool DeviceCounter::see(const QueryRecord& r, int64_t time_s) {
  Key key{};
  if (r.device[0] != '\0') {
    key[0] = 'd';
    std::memcpy(key.data() + 1, r.device, std::min(sizeof r.device, key.size() - 1));
  } else if (r.client_family == AF_INET || r.client_family == AF_INET6) {
    key[0] = r.client_family;
    std::memcpy(key.data() + 1, r.client, r.client_family == AF_INET ? 4 : 16);
  } else {
    return false;  // nothing identifies the client
  }
  if (auto it = last_seen_.find(key); it != last_seen_.end()) {
    it->second = std::max(it->second, time_s);
    return false;
  }
  if (last_seen_.size() >= max_tracked_) {
    expire(time_s);
    if (last_seen_.size() >= max_tracked_) {
      ++untracked_;
      return false;
    }
  }
  last_seen_.emplace(key, time_s);
  return true;
}

void DeviceCounter::expire(int64_t now_s) {
  const int64_t cutoff = now_s - window_s_;
  std::erase_if(last_seen_, [cutoff](const auto& kv) { return kv.second < cutoff; });
}

// ---- TenantAccumulator -------------------------------------------------------------------------

TenantAccumulator::TenantAccumulator(std::string tenant_id, const StatsLimits& limits)
    : tenant_id_(std::move(tenant_id)),
      limits_(limits),
      top_blocked_names_(limits.top_capacity, name_text),
      top_clients_(limits.top_capacity),
      devices_(limits.max_tracked_devices, limits.device_window_s) {
  for (auto& h : hours_) h.hour_start_s = -1;  // never a real hour start (multiples of 3600)
}

bool TenantAccumulator::add(const QueryRecord& r) {
  const bool blocked = r.action == QueryAction::blocked;
  ++queries_;
  const auto action = static_cast<size_t>(r.action);
  if (action < kActions) ++by_action_[action];

  const int64_t time_s = floor_div(r.time_us, 1000000);
  const int64_t hour_start = floor_div(time_s, 3600) * 3600;
  HourBucket& bucket = hours_[static_cast<size_t>(floor_div(hour_start, 3600)) % kHours];
  if (bucket.hour_start_s < hour_start) bucket = HourBucket{hour_start, 0, 0};
  // A record older than the bucket's hour belongs to a slot already recycled: not in the series.
  if (bucket.hour_start_s == hour_start) {
    ++bucket.queries;
    if (blocked) ++bucket.blocked;
  }

  if (blocked) {
    ++blocked_;
    for (uint64_t bits = r.categories; bits != 0; bits &= bits - 1) ++blocked_by_category_[__builtin_ctzll(bits)];
    top_blocked_names_.add(std::string_view(reinterpret_cast<const char*>(r.qname), r.qname_len));
  }
  // The log mode decides how much of the client the control plane may see: anonymized tenants
  // get truncated addresses, `none` tenants none at all.
  if (r.log_mode != LogMode::none) {
    char address[kMaxClientText];
    const std::string_view client =
        r.device[0] != '\0' ? std::string_view(r.device, strnlen(r.device, sizeof r.device))
                            : std::string_view(address, write_client_text(address, r, r.log_mode == LogMode::anonymized));
    if (!client.empty()) top_clients_.add(client);
  }

  if (!devices_.see(r, time_s)) return false;
  if (max_devices_ > 0 && !over_limit_ && devices_.size() > max_devices_) {
    over_limit_ = true;
    ++crossings_;
    return true;
  }
  return false;
}

void TenantAccumulator::expire_devices(int64_t now_s) {
  devices_.expire(now_s);
  if (over_limit_ && devices_.size() <= max_devices_) over_limit_ = false;
}

void TenantAccumulator::set_max_devices(uint32_t max_devices) {
  if (max_devices != max_devices_) over_limit_ = false;  // re-arm: the next crossing is logged
  max_devices_ = max_devices;
}

TenantStats TenantAccumulator::snapshot(int64_t now_s) const {
  TenantStats s;
  s.tenant_id = tenant_id_;
  s.queries = queries_;
  s.blocked = blocked_;
  s.by_action = by_action_;
  s.blocked_by_category = blocked_by_category_;
  s.top_blocked_names = top_blocked_names_.top(limits_.top_n);
  s.top_clients = top_clients_.top(limits_.top_n);
  const int64_t current_hour = floor_div(now_s, 3600);
  s.hourly.reserve(kHours);
  for (int64_t h = current_hour - static_cast<int64_t>(kHours) + 1; h <= current_hour; ++h) {
    const HourBucket& b = hours_[static_cast<size_t>(h) % kHours];
    s.hourly.push_back(b.hour_start_s == h * 3600 ? b : HourBucket{h * 3600, 0, 0});
  }
  s.active_devices = devices_.size();
  s.max_devices = max_devices_;
  s.over_device_limit = over_limit_;
  s.device_limit_crossings = crossings_;
  s.devices_untracked = devices_.untracked();
  return s;
}

}  // namespace sekisho::querylog
