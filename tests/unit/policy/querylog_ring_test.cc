// Tests for policy/querylog/ring: order, full-ring drops, SPSC across two real threads, and
// that pushing allocates nothing.
#include <doctest/doctest.h>
#include <malloc.h>

#include <atomic>
#include <cstring>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "policy/querylog/ring.h"

using sekisho::querylog::QueryLogRing;
using sekisho::querylog::QueryRecord;

namespace {

QueryRecord numbered(int64_t i) {
  QueryRecord r;
  r.time_us = i;
  r.latency_us = static_cast<uint32_t>(i * 7);
  return r;
}

}  // namespace

TEST_CASE("querylog ring: capacity rounds up to a power of two") {
  CHECK(QueryLogRing(8192).capacity() == 8192);
  CHECK(QueryLogRing(1000).capacity() == 1024);
  CHECK(QueryLogRing(0).capacity() == 2);
}

TEST_CASE("querylog ring: records come out in push order, across wrap-around") {
  QueryLogRing ring(8);
  std::vector<QueryRecord> out(8);
  int64_t next_push = 0, next_pop = 0;
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < 5; ++k) REQUIRE(ring.try_push(numbered(next_push++)));
    const size_t n = ring.pop_batch(out.data(), 3);
    REQUIRE(n == 3);
    for (size_t i = 0; i < n; ++i) CHECK(out[i].time_us == next_pop++);
    const size_t m = ring.pop_batch(out.data(), out.size());
    REQUIRE(m == 2);
    for (size_t i = 0; i < m; ++i) CHECK(out[i].time_us == next_pop++);
  }
  CHECK(ring.pop_batch(out.data(), out.size()) == 0);
  CHECK(ring.dropped() == 0);
}

TEST_CASE("querylog ring: a slot reused by a shorter name carries every field and the whole name") {
  // try_push copies record_bytes: a slot keeps stale bytes past the new name, never before.
  QueryLogRing ring(2);
  QueryRecord long_name, short_name;
  std::vector<uint8_t> wire;
  for (int i = 0; i < 4; ++i) wire.insert(wire.end(), {20, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't'});
  wire.push_back(0);
  sekisho::querylog::set_qname(long_name, wire);
  sekisho::querylog::set_text(long_name.device, "laptop-of-someone");
  sekisho::querylog::set_text(long_name.rule_text, "mon-fri 09:00-18:00");
  const uint8_t short_wire[] = {1, 'x', 0};
  sekisho::querylog::set_qname(short_name, short_wire);
  short_name.upstream = 3;
  std::vector<QueryRecord> out(2);
  for (int round = 0; round < 3; ++round) {  // long and short names alternate in both slots
    REQUIRE(ring.try_push(round % 2 ? short_name : long_name));
    REQUIRE(ring.try_push(round % 2 ? long_name : short_name));
    REQUIRE(ring.pop_batch(out.data(), 2) == 2);
    for (size_t i = 0; i < 2; ++i) {
      const QueryRecord& want = (round + i) % 2 ? short_name : long_name;
      CHECK(std::memcmp(&out[i], &want, sekisho::querylog::record_bytes(want)) == 0);
      CHECK(std::string_view(out[i].device) == std::string_view(want.device));
      CHECK(std::string_view(out[i].rule_text) == std::string_view(want.rule_text));
      CHECK(out[i].upstream == want.upstream);
    }
  }
  CHECK(sekisho::querylog::record_bytes(short_name) < sizeof(QueryRecord) / 2);
}

TEST_CASE("querylog ring: a full ring refuses and counts each drop") {
  QueryLogRing ring(4);
  for (int i = 0; i < 4; ++i) REQUIRE(ring.try_push(numbered(i)));
  CHECK(ring.size_approx() == 4);
  CHECK_FALSE(ring.try_push(numbered(100)));
  CHECK_FALSE(ring.try_push(numbered(101)));
  CHECK(ring.dropped() == 2);

  // The oldest records survive; the dropped ones never appear.
  QueryRecord out[8];
  REQUIRE(ring.pop_batch(out, 1) == 1);
  CHECK(out[0].time_us == 0);
  CHECK(ring.try_push(numbered(4)));  // room again
  REQUIRE(ring.pop_batch(out, 8) == 4);
  CHECK(out[0].time_us == 1);
  CHECK(out[3].time_us == 4);
  CHECK(ring.dropped() == 2);
}

TEST_CASE("querylog ring: try_push is noexcept and allocates nothing") {
  static_assert(std::is_trivially_copyable_v<QueryRecord>);
  static_assert(noexcept(std::declval<QueryLogRing&>().try_push(std::declval<const QueryRecord&>())));
  QueryLogRing ring(64);
  QueryRecord out[64];
  const QueryRecord r = numbered(1);
  // mallinfo2 sees any allocation that is still held afterwards (a growing ring, a side buffer);
  // the binary-wide counting operator new lives in tests/unit/resolver/no_allocation_test.cc.
  const struct mallinfo2 before = mallinfo2();
  uint64_t pushed = 0;
  for (int i = 0; i < 100000; ++i) {
    pushed += ring.try_push(r) ? 1 : 0;
    if (i % 100 == 99) ring.pop_batch(out, 64);  // keep wrapping, and keep hitting "full"
  }
  const struct mallinfo2 after = mallinfo2();
  CHECK(after.uordblks == before.uordblks);
  CHECK(after.hblkhd == before.hblkhd);
  CHECK(ring.capacity() == 64);
  CHECK(pushed + ring.dropped() == 100000);
  CHECK(ring.dropped() > 0);
}

TEST_CASE("querylog ring: one producer and one consumer thread, 1,000,000 records, none lost") {
  constexpr int64_t kCount = 1'000'000;
  QueryLogRing ring(8192);
  std::atomic<uint64_t> refused{0};

  std::thread producer([&] {
    uint64_t local_refused = 0;
    for (int64_t i = 0; i < kCount; ++i) {
      const QueryRecord r = numbered(i);
      // The engine would drop; here the producer retries so the test can check completeness.
      while (!ring.try_push(r)) {
        ++local_refused;
        std::this_thread::yield();
      }
    }
    refused = local_refused;
  });

  std::vector<QueryRecord> out(512);
  int64_t expected = 0;
  uint64_t sum = 0;
  bool in_order = true, intact = true;
  while (expected < kCount) {
    const size_t n = ring.pop_batch(out.data(), out.size());
    if (n == 0) {
      std::this_thread::yield();
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (out[i].time_us != expected) in_order = false;
      sum += static_cast<uint64_t>(out[i].time_us);
      // A torn copy would pair one record's time with another's latency.
      if (out[i].latency_us != static_cast<uint32_t>(out[i].time_us * 7)) intact = false;
      ++expected;
    }
  }
  producer.join();

  CHECK(in_order);
  CHECK(expected == kCount);
  CHECK(sum == static_cast<uint64_t>(kCount) * (kCount - 1) / 2);
  CHECK(intact);
  CHECK(ring.dropped() == refused.load());
  QueryRecord extra;
  CHECK(ring.pop_batch(&extra, 1) == 0);
}

TEST_CASE("querylog ring: consume hands out records in place, in order, across the wrap") {
  QueryLogRing ring(8);
  std::vector<QueryRecord> out(8);
  for (int i = 0; i < 6; ++i) REQUIRE(ring.try_push(numbered(i)));
  REQUIRE(ring.pop_batch(out.data(), 5) == 5);  // the next records start at slot 5
  for (int i = 6; i < 12; ++i) REQUIRE(ring.try_push(numbered(i)));

  std::vector<size_t> span_sizes;
  std::vector<int64_t> seen;
  const size_t n = ring.consume(100, [&](std::span<const QueryRecord> records) {
    span_sizes.push_back(records.size());
    for (const QueryRecord& r : records) seen.push_back(r.time_us);
  });
  CHECK(n == 7);
  CHECK(span_sizes == std::vector<size_t>{3, 4});  // slots 5..7, then 0..3
  CHECK(seen == std::vector<int64_t>{5, 6, 7, 8, 9, 10, 11});
  CHECK(ring.size_approx() == 0);
  CHECK(ring.consume(100, [](std::span<const QueryRecord>) { FAIL("nothing to consume"); }) == 0);

  // `max` bounds a call; the rest stays for the next one.
  for (int i = 12; i < 16; ++i) REQUIRE(ring.try_push(numbered(i)));
  seen.clear();
  CHECK(ring.consume(3, [&](std::span<const QueryRecord> records) {
    for (const QueryRecord& r : records) seen.push_back(r.time_us);
  }) == 3);
  CHECK(seen == std::vector<int64_t>{12, 13, 14});
  CHECK(ring.size_approx() == 1);
}
