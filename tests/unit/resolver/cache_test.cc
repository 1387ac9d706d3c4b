// resolver/cache: turning upstream responses into cacheable answers, and the sharded CLOCK cache.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "resolver/cache/answer.h"
#include "resolver/cache/cache.h"
#include "resolver/cache/cache_key.h"
#include "resolver/cache/read_epoch.h"
#include "tests/unit/dns/dns_builder.h"

using namespace sekisho;
using sekisho_test::get32;
using sekisho_test::Msg;

namespace {

struct Made {
  bool ok = false;
  cache::CachedAnswer a;
  std::string why;
  size_t question_end = 0;
};

Made make(const Msg& m, const config::CacheSettings& limits = {}) {
  Made r;
  size_t pos = 12;
  dns::Question q;
  REQUIRE(dns::read_question(m.span(), pos, q));
  r.question_end = pos;
  r.ok = cache::make_cached_answer(m.span(), pos, limits, r.a, r.why);
  return r;
}

Msg response(uint16_t flags, uint16_t an, uint16_t ns, uint16_t ar, std::string_view qname = "www.example.com",
             uint16_t qtype = 1) {
  Msg m;
  m.header(0x1111, flags, 1, an, ns, ar).question(qname, qtype);
  return m;
}

dns::Question question_of(std::string_view name, uint16_t qtype = 1) {
  Msg m;
  m.header(1, 0x0100, 1).question(name, qtype);
  size_t pos = 12;
  dns::Question q;
  REQUIRE(dns::read_question(m.span(), pos, q));
  return q;
}

cache::CacheKey key_for(std::string_view name, uint16_t qtype = 1, bool do_bit = false, bool cd_bit = false) {
  return cache::make_key(question_of(name, qtype), do_bit, cd_bit);
}

cache::CachedAnswer answer_with_ttl(uint32_t ttl, uint8_t tag = 0) {
  cache::CachedAnswer a;
  a.body = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, tag};
  a.ttl_offsets = {4};
  a.ancount = 1;
  a.ttl = ttl;
  return a;
}

struct FindResult {
  cache::Freshness f = cache::Freshness::miss;
  bool called = false;
  uint32_t age = 0;
  uint8_t tag = 0;
};

FindResult find(const cache::Cache& c, const cache::CacheKey& k, uint64_t now_ms, bool allow_stale) {
  FindResult r;
  r.f = c.find(k, now_ms, allow_stale, [&](const cache::CachedAnswer& a, uint32_t age) {
    r.called = true;
    r.age = age;
    r.tag = a.body.back();
  });
  CHECK(r.called == (r.f != cache::Freshness::miss));
  return r;
}

std::string numbered(size_t i) { return "host" + std::to_string(i) + ".example.net"; }

}  // namespace

TEST_SUITE("resolver.cache.answer") {

TEST_CASE("make_cached_answer: body, counts, TTL offsets and the smallest TTL") {
  Msg m = response(0x81A0, 3, 0, 0);  // AD set
  m.a_ptr(300).a_ptr(60).a_ptr(120);
  Made r = make(m);
  REQUIRE(r.ok);
  CHECK(r.a.ttl == 60);
  CHECK(r.a.ancount == 3);
  CHECK(r.a.nscount == 0);
  CHECK(r.a.arcount == 0);
  CHECK(r.a.rcode == dns::Rcode::noerror);
  CHECK(r.a.authenticated);
  REQUIRE(r.a.body.size() == 3 * 16);
  CHECK(std::vector<uint8_t>(m.b.begin() + r.question_end, m.b.end()) == r.a.body);
  REQUIRE(r.a.ttl_offsets.size() == 3);
  CHECK(get32(r.a.body, r.a.ttl_offsets[0]) == 300);
  CHECK(get32(r.a.body, r.a.ttl_offsets[1]) == 60);
  CHECK(get32(r.a.body, r.a.ttl_offsets[2]) == 120);
}

TEST_CASE("make_cached_answer clamps positive TTLs to [min_ttl, max_ttl]") {
  config::CacheSettings limits;
  limits.min_ttl = 30;
  limits.max_ttl = 100;
  Msg low = response(0x8180, 1, 0, 0);
  low.a_ptr(5);
  CHECK(make(low, limits).a.ttl == 30);
  Msg high = response(0x8180, 1, 0, 0);
  high.a_ptr(5000);
  CHECK(make(high, limits).a.ttl == 100);
  Msg mid = response(0x8180, 1, 0, 0);
  mid.a_ptr(77);
  CHECK(make(mid, limits).a.ttl == 77);
}

TEST_CASE("make_cached_answer: the TTLs clients will see match the clamped lifetime") {
  config::CacheSettings limits;
  limits.min_ttl = 30;
  limits.max_ttl = 100;
  Msg m = response(0x8180, 3, 0, 0);
  m.a_ptr(5).a_ptr(77).a_ptr(5000);
  Made r = make(m, limits);
  REQUIRE(r.ok);
  REQUIRE(r.a.ttl_offsets.size() == 3);
  CHECK(get32(r.a.body, r.a.ttl_offsets[0]) == 30);
  CHECK(get32(r.a.body, r.a.ttl_offsets[1]) == 77);
  CHECK(get32(r.a.body, r.a.ttl_offsets[2]) == 100);
  CHECK(r.a.ttl == 30);

  Msg nx = response(0x8183, 0, 1, 0);
  nx.soa("example.com", 3000, 300);
  Made n = make(nx, limits);
  REQUIRE(n.a.ttl_offsets.size() == 1);
  CHECK(n.a.ttl == 300);
  CHECK(get32(n.a.body, n.a.ttl_offsets[0]) == 300);  // SOA shown with the negative TTL (RFC 2308 §3)
}

TEST_CASE("make_cached_answer strips the OPT and adjusts ARCOUNT") {
  SUBCASE("OPT alone in additional") {
    Msg m = response(0x8180, 1, 0, 1);
    m.a_ptr(60);
    const size_t answer_end = m.size();
    m.opt(1232, true);
    Made r = make(m);
    REQUIRE(r.ok);
    CHECK(r.a.arcount == 0);
    CHECK(r.a.body.size() == answer_end - r.question_end);
    CHECK(r.a.ttl == 60);  // the OPT's "TTL" (flags) is not a TTL
  }
  SUBCASE("glue before the OPT stays") {
    Msg m = response(0x8180, 1, 0, 2);
    m.a_ptr(60).rr("ns.example.com", 1, 90, std::vector<uint8_t>{192, 0, 2, 53});
    const size_t glue_end = m.size();
    m.opt(1232, false, 0, 0, {0, 10, 0, 2, 1, 2});
    Made r = make(m);
    REQUIRE(r.ok);
    CHECK(r.a.arcount == 1);
    CHECK(r.a.ancount == 1);
    CHECK(r.a.body.size() == glue_end - r.question_end);
    CHECK(r.a.ttl_offsets.size() == 2);
  }
}

TEST_CASE("make_cached_answer rejects OPT in the wrong place, records after OPT, and malformed records") {
  SUBCASE("records after OPT") {
    Msg m = response(0x8180, 1, 0, 2);
    m.a_ptr(60).opt().rr("ns.example.com", 1, 90, std::vector<uint8_t>{192, 0, 2, 53});
    Made r = make(m);
    CHECK_FALSE(r.ok);
    CHECK_FALSE(r.why.empty());
  }
  SUBCASE("OPT in the answer section") {
    Msg m = response(0x8180, 1, 0, 0);
    m.opt();
    CHECK_FALSE(make(m).ok);
  }
  SUBCASE("two OPTs") {
    Msg m = response(0x8180, 0, 0, 2);
    m.opt().opt();
    CHECK_FALSE(make(m).ok);
  }
  SUBCASE("truncated record") {
    Msg m = response(0x8180, 1, 0, 0);
    m.a_ptr(60);
    m.b.pop_back();
    Made r = make(m);
    CHECK_FALSE(r.ok);
    CHECK(r.why.find("record 1") != std::string::npos);
  }
  SUBCASE("more records claimed than present") {
    Msg m = response(0x8180, 2, 0, 0);
    m.a_ptr(60);
    CHECK_FALSE(make(m).ok);
  }
}

TEST_CASE("negative answers: TTL is min(SOA TTL, SOA MINIMUM), capped by negative_max_ttl") {
  config::CacheSettings limits;
  limits.negative_max_ttl = 3600;
  SUBCASE("NXDOMAIN, MINIMUM smaller") {
    Msg m = response(0x8183, 0, 1, 0);
    m.soa("example.com", 3000, 300);
    Made r = make(m, limits);
    REQUIRE(r.ok);
    CHECK(r.a.rcode == dns::Rcode::nxdomain);
    CHECK(r.a.ttl == 300);
    CHECK(r.a.nscount == 1);
  }
  SUBCASE("NXDOMAIN, SOA TTL smaller") {
    Msg m = response(0x8183, 0, 1, 0);
    m.soa("example.com", 200, 900);
    CHECK(make(m, limits).a.ttl == 200);
  }
  SUBCASE("NODATA") {
    Msg m = response(0x8180, 0, 1, 0, "www.example.com", 28);
    m.soa("example.com", 1000, 600);
    Made r = make(m, limits);
    CHECK(r.a.rcode == dns::Rcode::noerror);
    CHECK(r.a.ttl == 600);
  }
  SUBCASE("capped by negative_max_ttl") {
    limits.negative_max_ttl = 100;
    Msg m = response(0x8183, 0, 1, 0);
    m.soa("example.com", 3000, 900);
    CHECK(make(m, limits).a.ttl == 100);
  }
  SUBCASE("negative_max_ttl is a cap, not min_ttl/max_ttl") {
    limits.min_ttl = 500;
    limits.max_ttl = 1000;
    Msg m = response(0x8183, 0, 1, 0);
    m.soa("example.com", 3000, 60);
    CHECK(make(m, limits).a.ttl == 60);
  }
  SUBCASE("NXDOMAIN without SOA is not cached") {
    Msg m = response(0x8183, 0, 0, 0);
    Made r = make(m, limits);
    REQUIRE(r.ok);
    CHECK(r.a.ttl == 0);
  }
  SUBCASE("NODATA with an NS record but no SOA is not cached") {
    Msg m = response(0x8180, 0, 1, 0);
    m.rr("example.com", 2, 3600, sekisho_test::wire_name("ns.example.com"));
    CHECK(make(m, limits).a.ttl == 0);
  }
  SUBCASE("an SOA in the additional section does not count") {
    Msg m = response(0x8183, 0, 0, 1);
    m.soa("example.com", 3000, 300);
    CHECK(make(m, limits).a.ttl == 0);
  }
  SUBCASE("SERVFAIL is never cached") {
    Msg m = response(0x8182, 0, 1, 0);
    m.soa("example.com", 3000, 300);
    CHECK(make(m, limits).a.ttl == 0);
  }
  SUBCASE("REFUSED with records is never cached") {
    Msg m = response(0x8185, 1, 0, 0);
    m.a_ptr(300);
    CHECK(make(m, limits).a.ttl == 0);
  }
}

}  // TEST_SUITE

TEST_SUITE("resolver.cache") {

TEST_CASE("make_key: lowercased name, qtype, class, DO and CD") {
  cache::CacheKey a = key_for("WWW.Example.COM");
  cache::CacheKey b = key_for("www.example.com");
  CHECK(a == b);
  CHECK(a.hash == b.hash);
  CHECK(a.length == 17 + 5);
  CHECK_FALSE(a == key_for("www.example.com", 28));
  CHECK_FALSE(a == key_for("www.example.com", 1, true));
  CHECK_FALSE(a == key_for("www.example.com", 1, false, true));
  CHECK_FALSE(key_for("www.example.com", 1, true) == key_for("www.example.com", 1, false, true));
  CHECK_FALSE(a == key_for("www.example.org"));
}

TEST_CASE("make_key: the ECS subnet sent upstream is part of the key, and the hash is keyed") {
  const dns::Question q = question_of("www.example.com", 1);
  dns::ClientSubnet a;
  a.family = 1;
  a.source_prefix = 24;
  a.address[0] = 192;
  a.address[2] = 2;
  dns::ClientSubnet b = a;
  b.address[2] = 3;
  const cache::CacheKey plain = cache::make_key(q, false, false);
  const cache::CacheKey ka = cache::make_key({q.qname_lower, q.qname_len}, q.qtype, q.qclass, false, false, a);
  CHECK(ka.length == plain.length + 2 + 3);
  CHECK_FALSE(ka == plain);
  CHECK_FALSE(ka == cache::make_key({q.qname_lower, q.qname_len}, q.qtype, q.qclass, false, false, b));
  CHECK(ka == cache::make_key({q.qname_lower, q.qname_len}, q.qtype, q.qclass, false, false, a));
  // The cache's hash is the process's keyed hash of the key's bytes (base/keyed_hash.h), not a
  // fixed function a client could compute.
  CHECK(plain.hash == base::keyed_hash(plain.bytes, plain.length));
  CHECK(plain.hash != base::siphash<1, 3>(base::HashKey{}, plain.bytes, plain.length));
  cache::Cache c(100, 0);
  c.insert(ka, answer_with_ttl(60, 1), 1'000);
  CHECK(find(c, ka, 1'000, false).f == cache::Freshness::fresh);
  CHECK(find(c, plain, 1'000, false).f == cache::Freshness::miss);
}

TEST_CASE("insert then find: fresh with the age in whole seconds") {
  cache::Cache c(100, 0);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(60, 7), 1'000);
  FindResult r = find(c, k, 1'000, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.age == 0);
  CHECK(r.tag == 7);
  r = find(c, k, 6'999, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.age == 5);
  CHECK(find(c, key_for("WWW.EXAMPLE.COM"), 2'000, false).f == cache::Freshness::fresh);
  CHECK(find(c, key_for("other.example.com"), 2'000, false).f == cache::Freshness::miss);
  CHECK(c.stats().entries == 1);
}

TEST_CASE("entries expire at stored + ttl") {
  cache::Cache c(100, 0);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(10), 1'000);
  CHECK(find(c, k, 10'999, false).f == cache::Freshness::fresh);
  CHECK(find(c, k, 11'000, false).f == cache::Freshness::miss);
  CHECK(find(c, k, 11'000, true).f == cache::Freshness::miss);  // serve_stale 0
  CHECK(find(c, k, 500'000, true).f == cache::Freshness::miss);
}

TEST_CASE("stale window: only with allow_stale, only for serve_stale seconds") {
  cache::Cache c(100, 100);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(10, 3), 1'000);
  CHECK(find(c, k, 10'999, true).f == cache::Freshness::fresh);  // fresh even when stale is allowed
  CHECK(find(c, k, 11'000, false).f == cache::Freshness::miss);
  FindResult r = find(c, k, 11'000, true);
  CHECK(r.f == cache::Freshness::stale);
  CHECK(r.age == 10);
  CHECK(r.tag == 3);
  CHECK(find(c, k, 110'999, true).f == cache::Freshness::stale);
  CHECK(find(c, k, 111'000, true).f == cache::Freshness::miss);

  SUBCASE("set_serve_stale(0) turns it off") {
    c.set_serve_stale(0);
    CHECK(find(c, k, 11'000, true).f == cache::Freshness::miss);
    CHECK(find(c, k, 10'000, true).f == cache::Freshness::fresh);
  }
}

TEST_CASE("ttl 0 answers are not stored and do not replace a stored one") {
  cache::Cache c(100, 100);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(0), 1'000);
  CHECK(find(c, k, 1'000, true).f == cache::Freshness::miss);
  CHECK(c.stats().entries == 0);
  c.insert(k, answer_with_ttl(60, 1), 1'000);
  c.insert(k, answer_with_ttl(0, 2), 2'000);
  FindResult r = find(c, k, 2'000, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.tag == 1);
}

TEST_CASE("re-inserting a key replaces it in place") {
  cache::Cache c(100, 0);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(10, 1), 1'000);
  c.insert(k, answer_with_ttl(100, 2), 50'000);
  CHECK(c.stats().entries == 1);
  FindResult r = find(c, k, 60'000, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.tag == 2);
  CHECK(r.age == 10);
}

TEST_CASE("the key separates DO, CD, qtype") {
  cache::Cache c(1000, 0);
  c.insert(key_for("www.example.com", 1, false, false), answer_with_ttl(60, 1), 0);
  c.insert(key_for("www.example.com", 1, true, false), answer_with_ttl(60, 2), 0);
  c.insert(key_for("www.example.com", 1, false, true), answer_with_ttl(60, 3), 0);
  CHECK(find(c, key_for("www.example.com", 1, false, false), 0, false).tag == 1);
  CHECK(find(c, key_for("www.example.com", 1, true, false), 0, false).tag == 2);
  CHECK(find(c, key_for("www.example.com", 1, false, true), 0, false).tag == 3);
  CHECK(find(c, key_for("www.example.com", 1, true, true), 0, false).f == cache::Freshness::miss);
  CHECK(find(c, key_for("www.example.com", 28), 0, false).f == cache::Freshness::miss);
  CHECK(c.stats().entries == 3);
}

TEST_CASE("capacity is never exceeded") {
  // 100 and 1001: sets of unequal width (8 and 9 ways) make up the exact capacity.
  for (uint64_t max : {uint64_t{1}, uint64_t{8}, uint64_t{23}, uint64_t{100}, uint64_t{1000}, uint64_t{1001}}) {
    CAPTURE(max);
    cache::Cache c(max, 0);
    CHECK(c.capacity() == max);
    const size_t inserts = static_cast<size_t>(max) * 5 + 50;
    for (size_t i = 0; i < inserts; ++i) {
      c.insert(key_for(numbered(i)), answer_with_ttl(3600), 1'000 + i);
      if (i % 97 == 0) REQUIRE(c.stats().entries <= max);
    }
    const cache::CacheStats s = c.stats();
    CHECK(s.entries <= max);
    CHECK(s.entries == max);  // small caches (one shard) use all of their room
    CHECK(s.evictions == inserts - s.entries);
    // The most recent insert is always there.
    CHECK(find(c, key_for(numbered(inserts - 1)), 2'000 + inserts, false).f == cache::Freshness::fresh);
  }
}

TEST_CASE("CLOCK keeps a frequently hit entry while cold ones are evicted") {
  cache::Cache c(1000, 0);
  const auto hot = key_for("hot.example.com");
  const auto cold_first = key_for(numbered(0));
  c.insert(cold_first, answer_with_ttl(3600), 0);
  c.insert(hot, answer_with_ttl(3600, 42), 0);
  const size_t n = 5000;  // five times the capacity
  for (size_t i = 1; i <= n; ++i) {
    c.insert(key_for(numbered(i)), answer_with_ttl(3600), i);
    if (i % 50 == 0) REQUIRE(find(c, hot, i, false).f == cache::Freshness::fresh);
  }
  FindResult r = find(c, hot, n, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.tag == 42);
  CHECK(find(c, cold_first, n, false).f == cache::Freshness::miss);
  // Most of the early cold entries are gone.
  size_t early_left = 0;
  for (size_t i = 1; i <= 500; ++i) early_left += find(c, key_for(numbered(i)), n, false).f != cache::Freshness::miss;
  CHECK(early_left == 0);
  CHECK(c.stats().entries <= 1000);
}

TEST_CASE("CLOCK takes a dead entry before referenced live ones") {
  // A 15-entry cache is one set of 15 ways (a cache under two sets of 8 is not split: CLOCK
  // needs room). The keys share their low 6 hash bits as well, as the test was first written.
  cache::Cache c(15, 0);
  std::vector<cache::CacheKey> same;
  for (size_t i = 0; same.size() < 16; ++i) {
    cache::CacheKey k = key_for(numbered(i));
    if ((k.hash & 63) == 5) same.push_back(k);
  }
  // Slots 0..14 in insertion order; slot 5 expires after 1 s, the rest live an hour.
  for (size_t i = 0; i < 15; ++i) c.insert(same[i], answer_with_ttl(i == 5 ? 1 : 3600, static_cast<uint8_t>(i)), 0);
  for (size_t i = 0; i < 15; ++i) REQUIRE(find(c, same[i], 500, false).f == cache::Freshness::fresh);  // all referenced
  c.insert(same[15], answer_with_ttl(3600, 15), 5'000);
  CHECK(find(c, same[15], 5'000, false).tag == 15);
  CHECK(find(c, same[5], 5'000, true).f == cache::Freshness::miss);
  for (size_t i = 0; i < 15; ++i) {
    if (i == 5) continue;
    CAPTURE(i);
    CHECK(find(c, same[i], 5'000, false).f == cache::Freshness::fresh);
  }
}

TEST_CASE("CLOCK gives referenced entries a second chance, unreferenced go first") {
  cache::Cache c(15, 0);  // one set of 15 ways, as above
  std::vector<cache::CacheKey> same;
  for (size_t i = 0; same.size() < 17; ++i) {
    cache::CacheKey k = key_for(numbered(i));
    if ((k.hash & 63) == 9) same.push_back(k);
  }
  for (size_t i = 0; i < 15; ++i) c.insert(same[i], answer_with_ttl(3600, static_cast<uint8_t>(i)), 0);
  // Reference slots 0..3; slot 4 is the first unreferenced one.
  for (size_t i = 0; i < 4; ++i) REQUIRE(find(c, same[i], 10, false).f == cache::Freshness::fresh);
  c.insert(same[15], answer_with_ttl(3600, 15), 20);
  CHECK(find(c, same[4], 20, false).f == cache::Freshness::miss);
  for (size_t i = 0; i < 4; ++i) CHECK(find(c, same[i], 20, false).f == cache::Freshness::fresh);
  // The hand moved past 4; next victim is slot 5 (unreferenced), not the re-hit 0..3.
  c.insert(same[16], answer_with_ttl(3600, 16), 30);
  CHECK(find(c, same[5], 30, false).f == cache::Freshness::miss);
  CHECK(find(c, same[6], 30, false).f == cache::Freshness::fresh);
  CHECK(find(c, same[15], 30, false).f == cache::Freshness::fresh);
}

TEST_CASE("concurrent find and insert from four threads: no torn or freed entry is ever read") {
  cache::Cache c(64, 60);
  constexpr size_t kKeys = 200;
  std::vector<cache::CacheKey> keys;
  for (size_t i = 0; i < kKeys; ++i) keys.push_back(key_for(numbered(i)));
  std::atomic<uint64_t> torn{0}, hits{0};
  std::atomic<bool> go{false};
  auto worker = [&](unsigned seed) {
    while (!go.load()) {
    }
    uint32_t x = seed;
    for (size_t iter = 0; iter < 200'000; ++iter) {
      x = x * 1664525u + 1013904223u;
      const size_t i = (x >> 8) % kKeys;
      if ((x >> 4) % 4 == 0) {
        c.insert(keys[i], answer_with_ttl(1 + (x >> 20) % 5, static_cast<uint8_t>(i)), iter);
      } else {
        c.find(keys[i], iter, (x & 1) != 0, [&](const cache::CachedAnswer& a, uint32_t) {
          hits.fetch_add(1, std::memory_order_relaxed);
          if (a.body.size() != 16 || a.body.back() != static_cast<uint8_t>(i) || a.ttl_offsets.size() != 1) torn.fetch_add(1);
        });
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned seed = 1; seed <= 4; ++seed) threads.emplace_back(worker, seed);
  go.store(true);
  for (std::thread& t : threads) t.join();
  CHECK(torn.load() == 0);
  CHECK(hits.load() > 0);
  CHECK(c.stats().entries <= 64);
}

}  // TEST_SUITE

TEST_SUITE("resolver.cache") {

TEST_CASE("a find whose clock reading predates the insert reports age 0, not a wrapped age") {
  // run_query reads monotonic_ms() before taking the shard lock; another loop can insert the
  // same key with a later (coarse-clock) timestamp in between. The entry is fresh, and its
  // age must not underflow.
  cache::Cache c(100, 0);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(300), 5'004);
  FindResult r = find(c, k, 5'000, false);
  CHECK(r.f == cache::Freshness::fresh);
  CHECK(r.age == 0);
}

}  // TEST_SUITE

TEST_SUITE("resolver.cache.read_epoch") {

namespace {
std::atomic<int> g_freed{0};
void count_free(void* p) {
  delete static_cast<int*>(p);
  g_freed.fetch_add(1);
}

// A thread that enters a read section, reports, and stays inside until told to leave.
struct HeldReader {
  std::atomic<bool> inside{false}, leave{false};
  std::thread thread;
  HeldReader() {
    thread = std::thread([this] {
      cache::read_epoch::ReadSection section;
      inside.store(true);
      while (!leave.load()) std::this_thread::yield();
    });
    while (!inside.load()) std::this_thread::yield();
  }
  void release() {
    leave.store(true);
    thread.join();
  }
};
}  // namespace

TEST_CASE("a retired item waits for the readers inside a section since before it was retired") {
  g_freed = 0;
  cache::read_epoch::RetireList list;
  HeldReader reader;
  list.retire(new int(1), count_free);
  CHECK(list.reclaim() == 1);
  CHECK(g_freed.load() == 0);
  reader.release();
  CHECK(list.reclaim() == 0);
  CHECK(g_freed.load() == 1);
}

TEST_CASE("a reader that entered after the retirement does not hold it back") {
  g_freed = 0;
  cache::read_epoch::RetireList list;
  list.retire(new int(2), count_free);
  HeldReader late;
  CHECK(list.reclaim() == 0);
  CHECK(g_freed.load() == 1);
  late.release();
}

TEST_CASE("sections nest: only the outermost one leaves") {
  CHECK(cache::read_epoch::current_thread_epoch() == 0);
  {
    cache::read_epoch::ReadSection outer;
    REQUIRE(outer.lock_free());
    const uint64_t e = cache::read_epoch::current_thread_epoch();
    CHECK(e != 0);
    {
      cache::read_epoch::ReadSection inner;
      CHECK(cache::read_epoch::current_thread_epoch() == e);
    }
    CHECK(cache::read_epoch::current_thread_epoch() == e);
    // An item retired inside this thread's own section waits for it too.
    g_freed = 0;
    cache::read_epoch::RetireList list;
    list.retire(new int(3), count_free);
    CHECK(list.reclaim() == 1);
    CHECK(g_freed.load() == 0);
  }  // the list's destructor freed it
  CHECK(g_freed.load() == 1);
  CHECK(cache::read_epoch::current_thread_epoch() == 0);
}

TEST_CASE("an entry replaced under a reader stays intact until the reader leaves") {
  cache::Cache c(64, 0);
  const auto k = key_for("www.example.com");
  c.insert(k, answer_with_ttl(60, 1), 0);
  std::atomic<bool> seen{false}, leave{false};
  std::atomic<uint64_t> bad{0};
  std::thread reader([&] {
    cache::read_epoch::ReadSection section;
    const cache::CachedAnswer* held = nullptr;
    c.find(k, 0, false, [&](const cache::CachedAnswer& a, uint32_t) { held = &a; });
    seen.store(true);
    while (!leave.load()) {
      // Against the find() contract on purpose: the section alone must keep it alive.
      if (!held || held->body.size() != 16 || held->body.back() != 1) bad.fetch_add(1);
      std::this_thread::yield();
    }
  });
  while (!seen.load()) std::this_thread::yield();
  // Enough replacements of the same key to run the stripe's reclaim several times.
  for (uint8_t round = 2; round < 200; ++round) c.insert(k, answer_with_ttl(60, round), round);
  CHECK(find(c, k, 300, false).tag == 199);
  leave.store(true);
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(c.stats().entries == 1);
}

}  // TEST_SUITE

