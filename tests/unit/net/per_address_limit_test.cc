#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "net/address.h"
#include "net/per_address_limit.h"

using sekisho::net::PerAddressLimit;
using sekisho::net::SocketAddress;

namespace {

SocketAddress addr(const std::string& text) {
  std::string error;
  auto a = sekisho::net::parse_socket_address(text, 53, error);
  REQUIRE_MESSAGE(a, error);
  return *a;
}

}  // namespace

TEST_SUITE("net.per_address_limit") {

TEST_CASE("counts connections per IPv4 address and refuses the one over the limit") {
  PerAddressLimit limit;
  const SocketAddress a = addr("192.0.2.1:1000"), a_other_port = addr("192.0.2.1:2000"), b = addr("192.0.2.2:1000");
  CHECK(limit.acquire(a, 2));
  CHECK(limit.acquire(a_other_port, 2));  // the port does not matter
  CHECK_FALSE(limit.acquire(a, 2));
  CHECK(limit.open(a) == 2);
  CHECK(limit.acquire(b, 2));  // another client is not affected
  limit.release(a);
  CHECK(limit.acquire(a, 2));
  CHECK(limit.clients() == 2);
  limit.release(a);
  limit.release(a);
  limit.release(b);
  CHECK(limit.clients() == 0);  // nothing is kept for clients gone
  CHECK(limit.open(a) == 0);
}

TEST_CASE("an IPv6 client is its /64; an IPv4-mapped address is the IPv4 client") {
  PerAddressLimit limit;
  CHECK(limit.acquire(addr("[2001:db8:1:2::1]:1"), 2));
  CHECK(limit.acquire(addr("[2001:db8:1:2:ffff::9]:1"), 2));
  CHECK_FALSE(limit.acquire(addr("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1"), 2));
  CHECK(limit.acquire(addr("[2001:db8:1:3::1]:1"), 2));  // the next /64
  CHECK(limit.acquire(addr("[::ffff:192.0.2.7]:1"), 2));
  CHECK(limit.acquire(addr("192.0.2.7:1"), 2));
  CHECK_FALSE(limit.acquire(addr("[::ffff:192.0.2.7]:2"), 2));
  CHECK(limit.open(addr("192.0.2.7:9")) == 2);
  // 0.0.0.0/32 and the IPv6 /64 ::/64 are different clients although both keys hold zero bits.
  CHECK(limit.acquire(addr("0.0.0.0:1"), 1));
  CHECK(limit.acquire(addr("[::2]:1"), 1));
}

TEST_CASE("limit 0 counts without refusing") {
  PerAddressLimit limit;
  for (int i = 0; i < 1000; ++i) CHECK(limit.acquire(addr("192.0.2.1:1"), 0));
  CHECK(limit.open(addr("192.0.2.1:1")) == 1000);
}

TEST_CASE("loops share one count") {
  PerAddressLimit limit;
  const SocketAddress a = addr("192.0.2.1:1");
  std::vector<std::thread> threads;
  std::atomic<int> taken{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (limit.acquire(a, 150)) ++taken;
    });
  for (auto& t : threads) t.join();
  CHECK(taken == 150);
  CHECK(limit.open(a) == 150);
}

}  // TEST_SUITE
