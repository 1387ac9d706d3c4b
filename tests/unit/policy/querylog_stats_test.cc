// Tests for policy/querylog/stats: heavy hitters, device counting, the per-tenant accumulator.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "policy/querylog/stats.h"

namespace ql = sekisho::querylog;

namespace {

constexpr int64_t kT0 = 1'795'000'000;  // seconds; an arbitrary day in 2026

ql::QueryRecord from(uint8_t last_octet, int64_t time_s, ql::QueryAction action = ql::QueryAction::resolved) {
  ql::QueryRecord r;
  r.time_us = time_s * 1000000;
  const uint8_t v4[4] = {10, 1, 0, last_octet};
  ql::set_client_v4(r, v4);
  r.action = action;
  const uint8_t name[] = {3, 'b', 'a', 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  ql::set_qname(r, name);
  return r;
}

}  // namespace

TEST_CASE("querylog stats: heavy hitters are exact below capacity, ordered by count then key") {
  ql::HeavyHitters hh(100);
  for (int i = 0; i < 5; ++i) hh.add("five");
  for (int i = 0; i < 3; ++i) hh.add("three-b");
  for (int i = 0; i < 3; ++i) hh.add("three-a");
  hh.add("one");
  const auto top = hh.top(3);
  REQUIRE(top.size() == 3);
  CHECK(top[0] == ql::TopEntry{"five", 5, 0});
  CHECK(top[1] == ql::TopEntry{"three-a", 3, 0});
  CHECK(top[2] == ql::TopEntry{"three-b", 3, 0});
  CHECK(hh.top(10).size() == 4);
}

TEST_CASE("querylog stats: heavy hitters keep frequent keys among many rare ones, memory capped") {
  ql::HeavyHitters hh(50);
  // 3 heavy keys interleaved with 20,000 distinct rare keys.
  for (int i = 0; i < 20000; ++i) {
    hh.add("rare-" + std::to_string(i));
    if (i % 10 == 0) hh.add("heavy-1");
    if (i % 20 == 0) hh.add("heavy-2");
    if (i % 40 == 0) hh.add("heavy-3");
  }
  CHECK(hh.size() == 50);
  const auto top = hh.top(3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].key == "heavy-1");
  CHECK(top[1].key == "heavy-2");
  CHECK(top[2].key == "heavy-3");
  // Space-saving guarantee: count - error <= true count <= count.
  CHECK(top[0].count >= 2000);
  CHECK(top[0].count - top[0].error <= 2000);
}

TEST_CASE("querylog stats: heavy hitters find every tracked key through heavy churn") {
  // A small table (7 counters, 16 index entries) and keys that keep replacing the minimum:
  // most adds move index entries (backward-shift deletion), and a key the index lost would
  // come back as a second counter or evict another key.
  ql::HeavyHitters hh(7);
  uint64_t added = 0;
  uint32_t x = 12345;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 50; ++i, ++added) {
      x = x * 1664525u + 1013904223u;
      hh.add("k" + std::to_string(x % 97));
    }
    const auto all = hh.top(100);
    REQUIRE(all.size() == 7);
    uint64_t sum = 0;
    std::set<std::string> keys;
    for (const auto& e : all) {
      sum += e.count;
      keys.insert(e.key);
    }
    CHECK(keys.size() == 7);  // no key twice
    CHECK(sum == added);      // space-saving: every add raised exactly one counter
    // Each tracked key is found: adding it raises its own count by one and evicts nobody.
    for (const auto& e : all) {
      hh.add(e.key);
      ++added;
    }
    for (const auto& e : hh.top(100)) {
      const auto before = std::find_if(all.begin(), all.end(), [&](const ql::TopEntry& b) { return b.key == e.key; });
      REQUIRE(before != all.end());
      CHECK(e.count == before->count + 1);
      CHECK(e.error == before->error);
    }
  }
}

TEST_CASE("querylog stats: heavy hitters report keys through their text function") {
  ql::HeavyHitters hh(3, [](std::string_view key) { return "<" + std::string(key) + ">"; });
  hh.add("b");
  hh.add("a");
  hh.add("b");
  const auto top = hh.top(5);
  REQUIRE(top.size() == 2);
  CHECK(top[0] == ql::TopEntry{"<b>", 2, 0});
  CHECK(top[1] == ql::TopEntry{"<a>", 1, 0});
}

TEST_CASE("querylog stats: device counter counts distinct clients, expires, stays bounded") {
  ql::DeviceCounter devices(3, 30 * 86400);
  CHECK(devices.see(from(1, kT0), kT0));
  CHECK_FALSE(devices.see(from(1, kT0 + 5), kT0 + 5));  // same address
  CHECK(devices.see(from(2, kT0), kT0));
  ql::QueryRecord named = from(1, kT0);
  ql::set_text(named.device, "laptop");  // a device name is its own identity
  CHECK(devices.see(named, kT0));
  CHECK(devices.size() == 3);
  CHECK_FALSE(devices.see(from(4, kT0), kT0));  // table full, nothing old enough to expire
  CHECK(devices.untracked() == 1);

  devices.expire(kT0 + 30 * 86400 + 1);  // 30 days after kT0, only the refreshed address remains
  CHECK(devices.size() == 1);
  CHECK(devices.see(from(4, kT0 + 30 * 86400 + 1), kT0 + 30 * 86400 + 1));
}

TEST_CASE("querylog stats: device counter grows, finds every client again, survives a mass expiry") {
  ql::DeviceCounter devices(100000, 100);
  auto client = [](uint32_t i) {
    ql::QueryRecord r;
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
                            uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    ql::set_client_v6(r, v6);
    return r;
  };
  // 5,000 clients, the odd ones seen later: the table doubles from 64 entries several times.
  for (uint32_t i = 0; i < 5000; ++i) REQUIRE(devices.see(client(i), kT0));
  CHECK(devices.size() == 5000);
  for (uint32_t i = 1; i < 5000; i += 2) CHECK_FALSE(devices.see(client(i), kT0 + 60));
  CHECK(devices.size() == 5000);
  // The even ones expire; every odd one is still known, every even one is new again.
  devices.expire(kT0 + 150);
  CHECK(devices.size() == 2500);
  for (uint32_t i = 1; i < 5000; i += 2) CHECK_FALSE(devices.see(client(i), kT0 + 150));
  for (uint32_t i = 0; i < 5000; i += 2) CHECK(devices.see(client(i), kT0 + 150));
  CHECK(devices.size() == 5000);
}

TEST_CASE("querylog stats: a full device table makes room by forgetting clients out of the window") {
  ql::DeviceCounter devices(2, 10);
  CHECK(devices.see(from(1, kT0), kT0));
  CHECK(devices.see(from(2, kT0 + 5), kT0 + 5));
  CHECK(devices.see(from(3, kT0 + 11), kT0 + 11));  // full: the sweep forgets client 1 (at +0)
  CHECK(devices.size() == 2);
  CHECK_FALSE(devices.see(from(2, kT0 + 16), kT0 + 16));  // still tracked, refreshed
  CHECK_FALSE(devices.see(from(4, kT0 + 16), kT0 + 16));  // full, nobody out of the window
  CHECK_FALSE(devices.see(from(5, kT0 + 16), kT0 + 16));  // the same second: not swept again
  CHECK(devices.untracked() == 2);
  CHECK(devices.see(from(4, kT0 + 22), kT0 + 22));  // client 3 (+11) is out of the window now
  CHECK(devices.size() == 2);
  CHECK_FALSE(devices.see(from(2, kT0 + 22), kT0 + 22));  // refreshed at +16: kept by the sweep
}

TEST_CASE("querylog stats: accumulator counts, categories, hours and the device limit") {
  ql::TenantAccumulator acc("acme", ql::StatsLimits{});
  acc.set_max_devices(2);
  auto blocked = from(1, kT0, ql::QueryAction::blocked);
  blocked.categories = sekisho::policy::CategorySet((uint64_t{1} << 2) | (uint64_t{1} << 3));
  CHECK_FALSE(acc.add(blocked));
  CHECK_FALSE(acc.add(from(2, kT0 + 3600)));
  CHECK(acc.add(from(3, kT0 + 3600)));       // third device crosses max_devices = 2
  CHECK_FALSE(acc.add(from(4, kT0 + 3600)));  // logged once per crossing

  const auto s = acc.snapshot(kT0 + 3600);
  CHECK(s.tenant_id == "acme");
  CHECK(s.queries == 4);
  CHECK(s.blocked == 1);
  CHECK(s.by_action[static_cast<size_t>(ql::QueryAction::blocked)] == 1);
  CHECK(s.by_action[static_cast<size_t>(ql::QueryAction::resolved)] == 3);
  CHECK(s.blocked_by_category[2] == 1);
  CHECK(s.blocked_by_category[3] == 1);
  CHECK(s.blocked_by_category[4] == 0);
  REQUIRE(s.top_blocked_names.size() == 1);
  CHECK(s.top_blocked_names[0].key == "bad.example");
  CHECK(s.top_clients.size() == 4);
  CHECK(s.active_devices == 4);
  CHECK(s.over_device_limit);
  CHECK(s.device_limit_crossings == 1);
  REQUIRE(s.hourly.size() == ql::kHours);
  CHECK(s.hourly.back().hour_start_s == (kT0 + 3600) / 3600 * 3600);
  CHECK(s.hourly.back().queries == 3);
  CHECK(s.hourly.back().blocked == 0);
  CHECK(s.hourly[ql::kHours - 2].queries == 1);
  CHECK(s.hourly[ql::kHours - 2].blocked == 1);

  // 48 hours later the old buckets are out of the series; counters stay.
  const auto later = acc.snapshot(kT0 + 3600 + 48 * 3600);
  uint64_t in_series = 0;
  for (const auto& h : later.hourly) in_series += h.queries;
  CHECK(in_series == 0);
  CHECK(later.queries == 4);

  // Devices expire, the count falls back under the limit, and the next crossing is logged again.
  acc.expire_devices(kT0 + 3600 + 30 * 86400 + 1);
  CHECK(acc.active_devices() == 0);
  CHECK_FALSE(acc.add(from(5, kT0 + 31 * 86400)));
  CHECK_FALSE(acc.add(from(6, kT0 + 31 * 86400)));
  CHECK(acc.add(from(7, kT0 + 31 * 86400)));
  CHECK(acc.snapshot(kT0 + 31 * 86400).device_limit_crossings == 2);
}

TEST_CASE("querylog stats: log mode decides what the top-clients list may show") {
  ql::TenantAccumulator acc("t", ql::StatsLimits{});
  auto anon = from(77, kT0);
  anon.log_mode = ql::LogMode::anonymized;
  acc.add(anon);
  auto none = from(99, kT0);
  none.log_mode = ql::LogMode::none;
  acc.add(none);
  const auto s = acc.snapshot(kT0);
  CHECK(s.queries == 2);
  REQUIRE(s.top_clients.size() == 1);
  CHECK(s.top_clients[0].key == "10.1.0.0");
  CHECK(s.active_devices == 2);  // device counting still sees both (memory only, never written)
}
