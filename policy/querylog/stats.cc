// policy/querylog/stats.cc — see stats.h. Writer thread (under the writer's stats mutex) only.
#include "policy/querylog/stats.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

#include "policy/querylog/format.h"
#include "base/keyed_hash.h"

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

// A client's identity as bytes: 'd' and the device name, or the address family and the
// address as logged (truncated to /24 or /48 when `anonymize`). Returns the key's length, 0
// when nothing identifies the client; `key` holds 1 + sizeof r.device bytes. The device table
// keys on the full address; the top-clients list on what the tenant's log mode lets reports
// show, and spells the key out only for reports.
size_t client_key(const QueryRecord& r, bool anonymize, char* key) {
  if (r.device[0] != '\0') {
    key[0] = 'd';
    const size_t n = strnlen(r.device, sizeof r.device);
    std::memcpy(key + 1, r.device, n);
    return 1 + n;
  }
  uint8_t address[16];
  const size_t n = logged_address(r, anonymize, address);
  if (n == 0) return 0;
  key[0] = static_cast<char>(r.client_family);
  std::memcpy(key + 1, address, n);
  return 1 + n;
}

std::string client_text_of_key(std::string_view key) {
  if (key.empty()) return {};
  if (key[0] == 'd') return std::string(key.substr(1));
  QueryRecord r;
  r.client_family = static_cast<uint8_t>(key[0]);
  std::memcpy(r.client, key.data() + 1, std::min(key.size() - 1, sizeof r.client));
  return client_text(r, false);  // already truncated as logged
}

}  // namespace

// ---- HeavyHitters ------------------------------------------------------------------------------

HeavyHitters::HeavyHitters(size_t capacity, KeyText text)
    : capacity_(std::max<size_t>(capacity, 1)),
      text_(text),
      buckets_(capacity_ + 1),
      index_(std::bit_ceil(2 * capacity_)),
      mask_(index_.size() - 1) {
  counters_.reserve(capacity_);
  for (size_t b = 0; b < buckets_.size(); ++b)
    buckets_[b].next = b + 1 < buckets_.size() ? static_cast<uint32_t>(b + 1) : kNone;
}

size_t HeavyHitters::free_entry(uint64_t hash) const {
  size_t e = hash & mask_;
  while (index_[e] != 0) e = (e + 1) & mask_;
  return e;
}

void HeavyHitters::add(std::string_view key) {
  // Keyed: names and client addresses are the clients' to choose, and these tables probe
  // linearly, so known hashes would let a client make every later insert scan a long run.
  const uint64_t hash = base::keyed_hash(key);
  for (size_t e = hash & mask_; index_[e] != 0; e = (e + 1) & mask_) {
    const uint32_t c = index_[e] - 1;
    if (counters_[c].hash == hash && counters_[c].key == key) {
      increment(c);
      return;
    }
  }
  if (counters_.size() < capacity_) {
    const auto c = static_cast<uint32_t>(counters_.size());
    const size_t e = free_entry(hash);
    counters_.push_back(Counter{std::string(key), hash, 0, e, kNone, kNone, kNone});
    index_[e] = c + 1;
    const bool ones = min_bucket_ != kNone && buckets_[min_bucket_].count == 1;
    attach(c, ones ? min_bucket_ : new_bucket(1, kNone));
    return;
  }
  // Replace a minimum: the newcomer may have occurred up to min times unseen.
  const uint32_t c = buckets_[min_bucket_].first;
  Counter& k = counters_[c];
  unlink(k.entry);
  k.error = buckets_[min_bucket_].count;
  k.key.assign(key);
  k.hash = hash;
  k.entry = free_entry(hash);  // after unlink, which may have moved entries
  index_[k.entry] = c + 1;
  increment(c);
}

void HeavyHitters::increment(uint32_t c) {
  const uint32_t b = counters_[c].bucket;
  const uint64_t count = buckets_[b].count + 1;
  const uint32_t next = buckets_[b].next;
  if (next != kNone && buckets_[next].count == count) {
    detach(c);
    attach(c, next);
  } else if (buckets_[b].first == c && counters_[c].next == kNone) {
    ++buckets_[b].count;  // alone in its bucket, and no bucket in the way: the bucket moves up
  } else {
    const uint32_t nb = new_bucket(count, b);
    detach(c);  // b keeps its other counters
    attach(c, nb);
  }
}

void HeavyHitters::attach(uint32_t c, uint32_t bucket) {
  Counter& k = counters_[c];
  const uint32_t first = buckets_[bucket].first;
  k.bucket = bucket;
  k.prev = kNone;
  k.next = first;
  if (first != kNone) counters_[first].prev = c;
  buckets_[bucket].first = c;
}

void HeavyHitters::detach(uint32_t c) {
  Counter& k = counters_[c];
  Bucket& b = buckets_[k.bucket];
  if (k.prev != kNone) counters_[k.prev].next = k.next; else b.first = k.next;
  if (k.next != kNone) counters_[k.next].prev = k.prev;
  if (b.first != kNone) return;
  // The bucket is empty: out of the list, back to the pool.
  if (b.prev != kNone) buckets_[b.prev].next = b.next; else min_bucket_ = b.next;
  if (b.next != kNone) buckets_[b.next].prev = b.prev;
  b.next = free_buckets_;
  free_buckets_ = k.bucket;
}

uint32_t HeavyHitters::new_bucket(uint64_t count, uint32_t after) {
  const uint32_t nb = free_buckets_;  // never empty: at most capacity buckets hold counters
  free_buckets_ = buckets_[nb].next;
  Bucket& b = buckets_[nb];
  b.count = count;
  b.first = kNone;
  b.prev = after;
  b.next = after == kNone ? min_bucket_ : buckets_[after].next;
  if (b.next != kNone) buckets_[b.next].prev = nb;
  if (after == kNone) min_bucket_ = nb; else buckets_[after].next = nb;
  return nb;
}

// Backward-shift deletion: each follower in the run moves back into the hole unless its home
// entry lies after the hole, so every key stays reachable from its home without tombstones.
void HeavyHitters::unlink(size_t hole) {
  for (size_t e = (hole + 1) & mask_; index_[e] != 0; e = (e + 1) & mask_) {
    Counter& k = counters_[index_[e] - 1];
    const size_t home = k.hash & mask_;
    if (((e - home) & mask_) >= ((e - hole) & mask_)) {
      index_[hole] = index_[e];
      k.entry = hole;
      hole = e;
    }
  }
  index_[hole] = 0;
}

std::vector<TopEntry> HeavyHitters::top(size_t n) const {
  std::vector<TopEntry> all;
  all.reserve(counters_.size());
  for (const Counter& k : counters_)
    all.push_back(TopEntry{text_ ? text_(k.key) : k.key, buckets_[k.bucket].count, k.error});
  const size_t m = std::min(n, all.size());
  // Ties by text so reports are stable between calls.
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(),
                    [](const TopEntry& a, const TopEntry& b) {
                      return a.count != b.count ? a.count > b.count : a.key < b.key;
                    });
  all.resize(m);
  return all;
}

// ---- DeviceCounter -----------------------------------------------------------------------------

namespace {
constexpr size_t kFirstDeviceTable = 64;
}  // namespace

DeviceCounter::DeviceCounter(size_t max_tracked, int64_t window_s)
    : max_tracked_(max_tracked), window_s_(window_s), table_(kFirstDeviceTable) {}

uint64_t DeviceCounter::hash_of(const Key& key) {
  return base::keyed_hash(key.data(), key.size());  // keyed, as HeavyHitters::add says
}

DeviceCounter::Entry* DeviceCounter::find_or_free(const Key& key, uint64_t hash) {
  const size_t mask = table_.size() - 1;
  for (size_t e = hash & mask;; e = (e + 1) & mask) {
    Entry& entry = table_[e];
    if (entry.key[0] == 0 || entry.key == key) return &entry;
  }
}

void DeviceCounter::rehash(size_t entries) {
  std::vector<Entry> old(entries);
  old.swap(table_);
  for (const Entry& entry : old) {
    if (entry.key[0] == 0) continue;
    *find_or_free(entry.key, hash_of(entry.key)) = entry;
  }
}

bool DeviceCounter::see(const QueryRecord& r, int64_t time_s) {
  static_assert(sizeof(Key) == 1 + sizeof r.device);
  Key key{};  // zero-padded: keys compare whole
  if (client_key(r, false, key.data()) == 0) return false;  // nothing identifies the client
  const uint64_t hash = hash_of(key);
  Entry* entry = find_or_free(key, hash);
  if (entry->key[0] != 0) {
    entry->last_seen = std::max(entry->last_seen, time_s);
    return false;
  }
  if (count_ >= max_tracked_) {
    // Sweeping a full table is O(table): at most once a second, or a flood of new clients
    // would sweep it for every record.
    if (time_s == last_full_expiry_s_) {
      ++untracked_;
      return false;
    }
    last_full_expiry_s_ = time_s;
    expire(time_s);
    if (count_ >= max_tracked_) {
      ++untracked_;
      return false;
    }
    entry = find_or_free(key, hash);  // the sweep rebuilt the table
  }
  if ((count_ + 1) * 2 > table_.size()) {
    rehash(table_.size() * 2);
    entry = find_or_free(key, hash);
  }
  entry->key = key;
  entry->last_seen = time_s;
  ++count_;
  return true;
}

void DeviceCounter::expire(int64_t now_s) {
  const int64_t cutoff = now_s - window_s_;
  size_t live = 0;
  for (Entry& entry : table_) {
    if (entry.key[0] == 0) continue;
    if (entry.last_seen < cutoff) entry.key[0] = 0; else ++live;
  }
  count_ = live;
  // Emptied entries would break other keys' probe runs: reinsert the survivors into a table
  // sized for them (shrinking after a mass expiry, never below the first size).
  size_t entries = kFirstDeviceTable;
  while (entries < 2 * (live + 1)) entries *= 2;
  rehash(entries);
}

// ---- TenantAccumulator -------------------------------------------------------------------------

TenantAccumulator::TenantAccumulator(std::string tenant_id, const StatsLimits& limits)
    : tenant_id_(std::move(tenant_id)),
      limits_(limits),
      top_blocked_names_(limits.top_capacity, name_text),
      top_clients_(limits.top_capacity, client_text_of_key),
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
    r.categories.for_each([&](uint8_t id) { ++blocked_by_category_[id]; });
    top_blocked_names_.add(std::string_view(reinterpret_cast<const char*>(r.qname), r.qname_len));
  } else if (r.action == QueryAction::monitored) {
    r.categories.for_each([&](uint8_t id) { ++monitored_by_category_[id]; });
  }
  // The log mode decides how much of the client the control plane may see: anonymized tenants
  // get truncated addresses, `none` tenants none at all.
  if (r.log_mode != LogMode::none) {
    char key[1 + sizeof r.device];
    const size_t n = client_key(r, r.log_mode == LogMode::anonymized, key);
    if (n != 0) top_clients_.add(std::string_view(key, n));
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
  s.monitored_by_category = monitored_by_category_;
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
