// The intercept's per-client mint rate, its per-tenant byte counts and bandwidth limit, and the
// status file they reach sekishod through: driven with a given clock, no sleeping.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "intercept/client_rate.h"
#include "intercept/status.h"
#include "intercept/traffic.h"
#include "net/address.h"

namespace {

using namespace sekisho;
using namespace sekisho::intercept;

net::SocketAddress peer(const std::string& text) {
  std::string error;
  const std::string spelled = text.find(':') != std::string::npos ? "[" + text + "]" : text;
  auto a = net::parse_socket_address(spelled, 443, error);
  REQUIRE_MESSAGE(a, error);
  return *a;
}

}  // namespace

TEST_CASE("client rate: a burst, then the rate; per client (IPv4 address, IPv6 /64); 0 = no limit") {
  ClientRate rate(2, 5);  // 2 a second, 5 at once
  const auto a = peer("192.0.2.1"), b = peer("192.0.2.2");
  uint64_t now = 1000;
  int granted = 0;
  for (int i = 0; i < 20; ++i) granted += rate.take(a, now);
  CHECK(granted == 5);
  CHECK(rate.take(b, now));  // another client has its own bucket
  now += 500;                // half a second: one more for a
  CHECK(rate.take(a, now));
  CHECK_FALSE(rate.take(a, now));
  // One IPv6 /64 is one client; the next /64 another.
  const auto v6a = peer("2001:db8:1:2::1"), v6b = peer("2001:db8:1:2::ffff"), v6c = peer("2001:db8:1:3::1");
  for (int i = 0; i < 5; ++i) CHECK(rate.take(v6a, now));
  CHECK_FALSE(rate.take(v6b, now));
  CHECK(rate.take(v6c, now));
  // IPv4-mapped is the IPv4 client.
  CHECK_FALSE(rate.take(peer("::ffff:192.0.2.1"), now));

  ClientRate none(0, 1);
  for (int i = 0; i < 1000; ++i) CHECK(none.take(a, now));
}

TEST_CASE("client rate: the table of clients stays bounded") {
  ClientRate rate(1, 1);
  uint64_t now = 0;
  for (uint32_t i = 0; i < ClientRate::kMaxClients + 1000; ++i) {
    rate.take(peer("10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                   std::to_string(i & 255)),
              now);
  }
  CHECK(rate.clients() <= ClientRate::kMaxClients);
}

TEST_CASE("traffic: bytes per tenant and host; a full host table keeps the busiest and sums the rest") {
  TrafficMeter m;
  m.set_limits({}, 0, 0);
  CHECK_FALSE(m.count("acme", "a.example", 1000, 10, 0));
  m.count("acme", "b.example", 5000, 0, 0);
  m.count("beta", "a.example", 7, 3, 0);
  for (size_t i = 0; i < TrafficMeter::kMaxHosts + 50; ++i) m.count("acme", "h" + std::to_string(i) + ".example", 1, 0, 0);
  const auto report = m.report();
  REQUIRE(report.size() == 2);
  const TenantTraffic& acme = report[0];
  CHECK(acme.tenant == "acme");
  CHECK(acme.bytes_in == 6000 + TrafficMeter::kMaxHosts + 50);
  CHECK(acme.bytes_out == 10);
  REQUIRE(acme.destinations.size() == TrafficMeter::kTopReported + 1);
  CHECK(acme.destinations[0].host == "b.example");
  CHECK(acme.destinations[1].host == "a.example");
  CHECK(acme.destinations.back().host == "_other");
  uint64_t sum = 0;
  for (const auto& d : acme.destinations) sum += d.bytes_in;
  CHECK(sum == acme.bytes_in);  // nothing lost by the bounds
  CHECK(report[1].tenant == "beta");
  CHECK(report[1].bytes_in == 7);
}

TEST_CASE("traffic: a tenant over its limit waits, others do not; the destinations that filled it are named") {
  TrafficMeter m;
  m.set_limits({{"acme", 100000}}, 0, 0);  // 100 kB/s, burst 64 KiB (a quarter second, at least 64 KiB)
  uint64_t now = 0;
  CHECK_FALSE(m.count("acme", "small.example", 1000, 0, now));
  CHECK(m.count("acme", "big.example", 200000, 0, now));  // 201 kB against 65.5 kB of burst
  const uint64_t wait = m.wait_ms("acme", now);
  CHECK(wait >= 1300);  // (201000 − 65536) / 100 per ms ≈ 1355 ms
  CHECK(wait <= 1400);
  CHECK(m.wait_ms("acme", now + wait) == 0);
  CHECK(m.wait_ms("beta", now) == 0);
  CHECK_FALSE(m.count("beta", "big.example", 10000000, 0, now));  // no limit for beta
  m.paused("acme", now, 1800000000);
  auto report = m.report();
  REQUIRE(report[0].limited_by.size() == 2);
  CHECK(report[0].limited_by[0].host == "big.example");
  CHECK(report[0].limited_by[0].bytes_in == 200000);
  CHECK(report[0].bandwidth_pauses == 1);
  CHECK(report[0].last_limited == 1800000000);
  CHECK(report[0].limit_bytes_per_second == 100000);
  // A default for every tenant, and a reload changing it.
  m.set_limits({}, 50000, now);
  CHECK(m.count("beta", "x.example", 100000, 0, now));
}

TEST_CASE("status file: written and read back field for field; a broken file is an error, none is nullopt") {
  InterceptStatus s;
  s.time = 1800000000;
  s.started = 1799990000;
  s.counters.leaf_minted = 7;
  s.counters.tls_refused_mint_rate = 3;
  s.counters.bytes_in = 123456789012ull;
  TenantTraffic t;
  t.tenant = "acme";
  t.bytes_in = 10;
  t.bytes_out = 20;
  t.limit_bytes_per_second = 30;
  t.bandwidth_pauses = 4;
  t.last_limited = 1799999999;
  t.destinations = {{"a.example", 1, 2}, {"_other", 3, 4}};
  t.limited_by = {{"a.example", 5, 6}};
  s.tenants.push_back(t);
  const std::string dir = "/tmp/sekisho-intercept-status-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = status_path(dir);
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  const std::string text = to_json(s);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  const auto back = read_status(path);
  REQUIRE(back);
  CHECK(to_json(*back) == text);
  CHECK(back->counters.bytes_in == 123456789012ull);
  CHECK(back->tenants[0].limited_by[0].bytes_out == 6);
  f = std::fopen(path.c_str(), "w");
  std::fputs("{\"tenants\": 5", f);
  std::fclose(f);
  CHECK_THROWS_AS(read_status(path), std::runtime_error);
  std::filesystem::remove_all(dir);
  CHECK_FALSE(read_status(path));
  // Every counter of the list has a field, a family and a type.
  for (const auto& c : counter_descriptions()) {
    CHECK(!c.field.empty());
    CHECK(c.family.starts_with("sekisho_intercept_"));
    CHECK((c.type == "counter" || c.type == "gauge"));
  }
}
