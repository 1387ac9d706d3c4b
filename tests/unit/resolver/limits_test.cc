// resolver/limits: the response rate limiter, the tenant quota and the waiting-query counts,
// driven by a hand-held clock (nanoseconds passed in), so every count below is exact.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "resolver/limits/gcra.h"
#include "resolver/limits/response_rate_limit.h"
#include "resolver/limits/usage.h"

using namespace sekisho::resolver::limits;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kStart = 1000 * kSecond;  // any monotonic reading

sockaddr_storage v4(const char* text) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, text, &a->sin_addr) == 1);
  return ss;
}

sockaddr_storage v6(const char* text) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  REQUIRE(::inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

struct Tally {
  int sent = 0, slipped = 0, dropped = 0;
};

Tally run(ResponseRateLimiter& rrl, const sockaddr_storage& peer, ResponseKind kind, const RrlPolicy& p, int n,
          uint64_t now) {
  Tally t;
  for (int i = 0; i < n; ++i) {
    switch (rrl.check(sa(peer), kind, p, now)) {
      case RrlAction::send: ++t.sent; break;
      case RrlAction::slip: ++t.slipped; break;
      case RrlAction::drop: ++t.dropped; break;
    }
  }
  return t;
}

// Header bytes of an answer with this rcode and answer count.
std::vector<uint8_t> answer(uint8_t rcode, uint16_t ancount) {
  std::vector<uint8_t> m(12, 0);
  m[2] = 0x81;
  m[3] = static_cast<uint8_t>(0x80 | rcode);
  m[7] = static_cast<uint8_t>(ancount);
  return m;
}

}  // namespace

TEST_CASE("gcra admits a second's worth at once, then the rate, and refusals do not dig deeper") {
  uint64_t tat = 0;
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += gcra_admit(tat, kStart, 10);
  CHECK(admitted == 10);
  // Refused events left tat where it was: 100 ms later exactly one more fits.
  CHECK(gcra_admit(tat, kStart + kSecond / 10, 10));
  CHECK_FALSE(gcra_admit(tat, kStart + kSecond / 10, 10));
  // A quiet second refills the whole bucket, no more.
  admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += gcra_admit(tat, kStart + 3 * kSecond, 10);
  CHECK(admitted == 10);
}

TEST_CASE("rrl: a prefix over its rate gets every slip-th answer truncated and the rest dropped") {
  ResponseRateLimiter rrl;
  const RrlPolicy p{.rate = 5, .slip = 2};
  const Tally t = run(rrl, v4("192.0.2.7"), ResponseKind::positive, p, 25, kStart);
  CHECK(t.sent == 5);
  CHECK(t.slipped == 10);
  CHECK(t.dropped == 10);
  // The same /24 shares the count; another /24 and another kind do not.
  CHECK(run(rrl, v4("192.0.2.200"), ResponseKind::positive, p, 1, kStart).sent == 0);
  CHECK(run(rrl, v4("192.0.3.7"), ResponseKind::positive, p, 5, kStart).sent == 5);
  CHECK(run(rrl, v4("192.0.2.7"), ResponseKind::nxdomain, p, 5, kStart).sent == 5);
  // A second later the prefix has its rate again.
  CHECK(run(rrl, v4("192.0.2.7"), ResponseKind::positive, p, 10, kStart + kSecond).sent == 5);
}

TEST_CASE("rrl: slip 0 drops every limited answer, slip 1 truncates every one, rate 0 limits nothing") {
  ResponseRateLimiter rrl;
  Tally t = run(rrl, v4("198.51.100.1"), ResponseKind::error, {.rate = 2, .slip = 0}, 10, kStart);
  CHECK(t.sent == 2);
  CHECK(t.slipped == 0);
  CHECK(t.dropped == 8);
  t = run(rrl, v4("203.0.113.1"), ResponseKind::error, {.rate = 2, .slip = 1}, 10, kStart);
  CHECK(t.sent == 2);
  CHECK(t.slipped == 8);
  CHECK(run(rrl, v4("203.0.113.9"), ResponseKind::error, {.rate = 0}, 1000, kStart).sent == 1000);
}

TEST_CASE("rrl: IPv6 clients count per /56, and the prefix length is the policy's") {
  ResponseRateLimiter rrl;
  const RrlPolicy p{.rate = 3, .slip = 0};
  CHECK(run(rrl, v6("2001:db8:0:100::1"), ResponseKind::positive, p, 3, kStart).sent == 3);
  CHECK(run(rrl, v6("2001:db8:0:1ff::2"), ResponseKind::positive, p, 3, kStart).sent == 0);   // same /56
  CHECK(run(rrl, v6("2001:db8:0:200::1"), ResponseKind::positive, p, 3, kStart).sent == 3);   // next /56
  const RrlPolicy per_address{.rate = 3, .slip = 0, .v4_prefix = 32};
  CHECK(run(rrl, v4("192.0.2.1"), ResponseKind::positive, per_address, 3, kStart).sent == 3);
  CHECK(run(rrl, v4("192.0.2.2"), ResponseKind::positive, per_address, 3, kStart).sent == 3);
  CHECK(prefix_text(sa(v6("2001:db8:0:1ff::2")), 24, 56) == "2001:db8:0:100::/56");
  CHECK(prefix_text(sa(v4("192.0.2.77")), 24, 56) == "192.0.2.0/24");
}

TEST_CASE("rrl: a flood of other prefixes cannot keep a limited prefix limited longer, the table stays fixed") {
  ResponseRateLimiter rrl;
  const RrlPolicy p{.rate = 1, .slip = 0};
  CHECK(run(rrl, v4("10.0.0.1"), ResponseKind::positive, p, 3, kStart).sent == 1);
  // 100,000 other prefixes (many more than the table's slots) each answered once.
  int sent = 0;
  for (uint32_t i = 0; i < 100000; ++i) {
    sockaddr_storage ss{};
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(0x0B000000u + (i << 8));
    sent += rrl.check(sa(ss), ResponseKind::positive, p, kStart) == RrlAction::send;
  }
  CHECK(sent == 100000);  // each new prefix starts with a full bucket
  // Whether or not its entry survived, the first prefix is never limited beyond its rate.
  CHECK(run(rrl, v4("10.0.0.1"), ResponseKind::positive, p, 1, kStart + kSecond).sent == 1);
}

TEST_CASE("rrl: answers are classified by rcode and answer count") {
  CHECK(classify_response(answer(0, 1)) == ResponseKind::positive);
  CHECK(classify_response(answer(0, 0)) == ResponseKind::nodata);
  CHECK(classify_response(answer(3, 0)) == ResponseKind::nxdomain);
  CHECK(classify_response(answer(2, 0)) == ResponseKind::error);
  CHECK(classify_response(answer(5, 0)) == ResponseKind::error);
  CHECK(kind_name(ResponseKind::nxdomain) == "nxdomain");
}

TEST_CASE("tenant quota: each tenant has its own bucket, and loops share it") {
  TenantUsage usage(2);
  int a = 0, b = 0;
  for (int i = 0; i < 50; ++i) a += usage.admit_query(0, 20, kStart);
  for (int i = 0; i < 50; ++i) b += usage.admit_query(1, 0, kStart);  // no quota
  CHECK(a == 20);
  CHECK(b == 50);
  CHECK(usage.admit_query(0, 20, kStart + kSecond / 20));  // one interval later, one more
  // Four threads taking from one bucket at one instant admit exactly its size.
  TenantUsage shared(1);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) admitted += shared.admit_query(0, 500, kStart);
    });
  for (auto& t : threads) t.join();
  CHECK(admitted.load() == 500);
}

TEST_CASE("waiting on upstreams: per tenant and per client caps, released on answer") {
  TenantUsage usage(2);
  for (int i = 0; i < 3; ++i) CHECK(usage.acquire_upstream(0, 3));
  CHECK_FALSE(usage.acquire_upstream(0, 3));
  CHECK(usage.upstream_waiting(0) == 3);  // the refused one is not counted
  CHECK(usage.acquire_upstream(1, 3));    // the other tenant is untouched
  usage.release_upstream(0);
  CHECK(usage.acquire_upstream(0, 3));
  CHECK(usage.acquire_upstream(1, 0));  // cap 0: counted, never refused

  ClientUpstreamCounts clients;
  const uint32_t a = clients.slot_of(sa(v4("192.0.2.1")));
  CHECK(a == clients.slot_of(sa(v6("::ffff:192.0.2.1"))));          // a mapped address is its IPv4 client
  CHECK(clients.slot_of(sa(v6("2001:db8::1"))) == clients.slot_of(sa(v6("2001:db8::ffff:1"))));  // one /64
  CHECK(a < ClientUpstreamCounts::kSlots);
  CHECK(clients.acquire(a, 2));
  CHECK(clients.acquire(a, 2));
  CHECK_FALSE(clients.acquire(a, 2));
  clients.release(a);
  CHECK(clients.waiting(a) == 1);
  CHECK(clients.acquire(a, 2));
}
