// policy/querylog/stats.h — per-tenant query statistics and device counting.
//
// Concurrency contract: none of these classes lock. The QueryLogWriter owns them and touches
// them only with its stats mutex held (the writer thread adds records; control-plane threads
// take snapshots). TenantStats is a plain value copy, safe to hand anywhere.
//
// Memory is bounded per tenant whatever the traffic: top lists keep at most
// StatsLimits::top_capacity keys (space-saving approximation), the hourly series is a fixed
// ring of 48 buckets, and the device table holds at most StatsLimits::max_tracked_devices keys.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/querylog/record.h"

namespace sekisho::querylog {

struct StatsLimits {
  size_t top_capacity = 1000;               // keys tracked per top list
  size_t top_n = 20;                        // entries reported per top list
  size_t max_tracked_devices = 1'000'000;   // per tenant
  int64_t device_window_s = 30 * 86400;     // a device counts if seen in the last 30 days
};

struct TopEntry {
  std::string key;
  uint64_t count = 0;  // an over-estimate by at most `error` (space-saving guarantee)
  uint64_t error = 0;
  bool operator==(const TopEntry&) const = default;
};

struct HourBucket {
  int64_t hour_start_s = 0;  // Unix time of the start of the UTC hour
  uint64_t queries = 0;
  uint64_t blocked = 0;
};

inline constexpr size_t kHours = 48;
inline constexpr size_t kActions = static_cast<size_t>(kLastQueryAction) + 1;  // QueryAction values

struct TenantStats {
  std::string tenant_id;
  uint64_t queries = 0;
  uint64_t blocked = 0;
  std::array<uint64_t, kActions> by_action{};     // indexed by QueryAction
  std::array<uint64_t, policy::kMaxCategories> blocked_by_category{};  // indexed by category id
  // What a monitor level or mode saw: what enforcing would have blocked or restricted.
  std::array<uint64_t, policy::kMaxCategories> monitored_by_category{};
  std::vector<TopEntry> top_blocked_names;         // count descending, at most top_n
  std::vector<TopEntry> top_clients;               // count descending, at most top_n
  std::vector<HourBucket> hourly;                  // kHours buckets, oldest first, ending now
  uint64_t active_devices = 0;                     // distinct clients in the device window
  uint32_t max_devices = 0;                        // 0 = unlimited
  bool over_device_limit = false;
  uint64_t device_limit_crossings = 0;
  uint64_t devices_untracked = 0;  // new devices not recorded because the table was full
};

// Space-saving heavy hitters (Metwally, Agrawal, El Abbadi 2005): at most `capacity`
// counters. A new key beyond capacity replaces a smallest counter and inherits its count as
// error, so every key whose true frequency exceeds N/capacity is present.
//
// The writer thread calls add for every logged query, and a tenant's blocked names usually
// outnumber the counters, so nearly every call replaces a minimum. The counters therefore sit
// in the paper's "stream summary": buckets of equal count in a list ordered by count, so that
// an increment moves a counter to the next bucket and the minimum is the first bucket, O(1)
// each (a min-heap sank every new minimum through a tree of equal counts). The key -> counter
// index is an open-addressing table (linear probing, backward-shift deletion). Nothing is
// allocated once the counters are full: buckets come from a fixed pool and a replaced key
// reuses its string.
class HeavyHitters {
 public:
  // Turns a stored key into the text top() reports; nullptr: the key is its own text. Lets a
  // caller count by a cheaper key (a wire-format name) and pay for the text only in reports.
  using KeyText = std::string (*)(std::string_view key);
  explicit HeavyHitters(size_t capacity, KeyText text = nullptr);
  void add(std::string_view key);
  std::vector<TopEntry> top(size_t n) const;
  size_t size() const { return counters_.size(); }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFF;
  struct Counter {
    std::string key;
    uint64_t hash;
    uint64_t error;
    size_t entry;     // its place in index_
    uint32_t bucket;  // into buckets_
    uint32_t prev, next;  // its bucket's counters
  };
  struct Bucket {
    uint64_t count;
    uint32_t first;       // a counter of this count (the bucket exists only while it has one)
    uint32_t prev, next;  // neighbours by count (the free pool chains through next)
  };
  void increment(uint32_t c);
  void attach(uint32_t c, uint32_t bucket);
  void detach(uint32_t c);  // frees the bucket when c was its last counter
  uint32_t new_bucket(uint64_t count, uint32_t after);  // after = kNone: first in the list
  size_t free_entry(uint64_t hash) const;  // first empty index_ entry on hash's probe sequence
  void unlink(size_t entry);               // empties an index_ entry, shifting its followers back

  size_t capacity_;
  KeyText text_;
  std::vector<Counter> counters_;
  std::vector<Bucket> buckets_;  // capacity + 1: a counter may be between two buckets
  uint32_t min_bucket_ = kNone;  // smallest count
  uint32_t free_buckets_ = 0;
  std::vector<uint32_t> index_;  // counter + 1, 0 = empty; a power of two >= 2 * capacity
  size_t mask_;
};

// Distinct clients seen within a sliding window. A key is a device name when the record has
// one, else the client address (full address, never persisted; see writer.h on anonymization).
// The writer thread calls see() for every record: the table is open addressing (linear
// probing, at most half full, doubled as it fills), so a sighting of a known client costs a
// hash and, almost always, one probe, and nothing is allocated but on growth.
class DeviceCounter {
 public:
  DeviceCounter(size_t max_tracked, int64_t window_s);
  // Records a sighting at `time_s`; returns true when the key was not being tracked.
  bool see(const QueryRecord& r, int64_t time_s);
  // Forgets keys not seen since now_s - window.
  void expire(int64_t now_s);
  size_t size() const { return count_; }
  uint64_t untracked() const { return untracked_; }

 private:
  using Key = std::array<char, 33>;  // [0] = kind (AF_INET, AF_INET6, 'd' for a name); 0 = empty entry
  struct Entry {
    Key key{};
    int64_t last_seen = 0;
  };
  static uint64_t hash_of(const Key& key);
  Entry* find_or_free(const Key& key, uint64_t hash);  // the key's entry, or the free one it would take
  void rehash(size_t entries);                         // into a table of `entries`, keys kept
  size_t max_tracked_;
  int64_t window_s_;
  uint64_t untracked_ = 0;
  int64_t last_full_expiry_s_ = INT64_MIN;  // a full table tries to expire at most once a second
  size_t count_ = 0;
  std::vector<Entry> table_;  // a power of two
};

// Everything kept for one tenant. add() returns true when this record made the distinct
// device count cross max_devices (the caller logs it); the limit re-arms once the count falls
// back to the limit or the limit changes.
class TenantAccumulator {
 public:
  TenantAccumulator(std::string tenant_id, const StatsLimits& limits);
  bool add(const QueryRecord& r);
  void expire_devices(int64_t now_s);
  void set_max_devices(uint32_t max_devices);
  size_t active_devices() const { return devices_.size(); }
  TenantStats snapshot(int64_t now_s) const;

 private:
  std::string tenant_id_;
  StatsLimits limits_;
  uint64_t queries_ = 0;
  uint64_t blocked_ = 0;
  std::array<uint64_t, kActions> by_action_{};
  std::array<uint64_t, policy::kMaxCategories> blocked_by_category_{};
  std::array<uint64_t, policy::kMaxCategories> monitored_by_category_{};
  HeavyHitters top_blocked_names_;
  HeavyHitters top_clients_;
  std::array<HourBucket, kHours> hours_{};  // slot = hour % kHours; stale when hour_start_s differs
  DeviceCounter devices_;
  uint32_t max_devices_ = 0;
  bool over_limit_ = false;  // set on a crossing so it is logged once, cleared when back under
  uint64_t crossings_ = 0;
};

}  // namespace sekisho::querylog
