// The serving path allocates nothing: checked with a counting global operator new, first on
// the stage functions the cache-hit path calls, then through run_query with a real (unstarted)
// Worker — without tenants, and with a tenant, the category store and the query log.
#include <doctest/doctest.h>
#include <arpa/inet.h>

#include <atomic>
#include <algorithm>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "config/settings.h"
#include "policy/policy.h"
#include "policy/querylog/ring.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/store_writer.h"
#include "base/clock.h"
#include "resolver/cache/answer.h"
#include "resolver/cache/cache.h"
#include "resolver/cache/cache_key.h"
#include "resolver/decode.h"
#include "resolver/pipeline.h"
#include "resolver/respond.h"
#include "resolver/engine.h"
#include "resolver/worker.h"
#include "tests/unit/dns/dns_builder.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/resolver/engine_load.h"
#include "tests/unit/resolver/malware_tenant.h"

// ---- counting allocator (whole binary; counts only on a thread that switched it on) ----------
namespace {
thread_local bool g_counting = false;
thread_local uint64_t g_allocations = 0;

void* counted_alloc(std::size_t n) {
  if (g_counting) ++g_allocations;
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  return p;
}
void* counted_aligned(std::size_t n, std::align_val_t al) {
  if (g_counting) ++g_allocations;
  void* p = nullptr;
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_aligned(n, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_aligned(n, a);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

struct CountAllocations {
  CountAllocations() {
    g_allocations = 0;
    g_counting = true;
  }
  ~CountAllocations() { g_counting = false; }
  uint64_t count() const { return g_allocations; }
};

using namespace sekisho;
using sekisho_test::client_query;
using sekisho_test::Msg;

void* volatile g_sink = nullptr;

// An upstream answer for www.example.com A with two records, as the cache stores it.
cache::CachedAnswer warm_answer() {
  Msg up;
  up.header(1, 0x8180, 1, 2, 0, 1).question("www.example.com").a_ptr(3600).a_ptr(3600, {192, 0, 2, 2}).opt();
  size_t pos = 12;
  dns::Question q;
  REQUIRE(dns::read_question(up.span(), pos, q));
  cache::CachedAnswer a;
  std::string why;
  REQUIRE(cache::make_cached_answer(up.span(), pos, config::CacheSettings{}, a, why));
  REQUIRE(a.ttl == 3600);
  return a;
}

// Puts warm_answer() in the server's cache under `query`'s question.
void cache_answer(resolver::Engine& server, const Msg& query) {
  resolver::DecodedQuery q;
  REQUIRE(resolver::decode(query.span(), q) == resolver::DecodeResult::ok);
  server.cache().insert(cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd), warm_answer(),
                        monotonic_ms());
}

}  // namespace

TEST_SUITE("resolver.no_allocation") {

TEST_CASE("the counting allocator sees allocations (self-check)") {
  uint64_t n = 0;
  {
    CountAllocations counter;
    auto* s = new std::string(200, 'x');
    g_sink = s;
    delete s;
    std::vector<int> v(1000);
    g_sink = v.data();
    n = counter.count();
  }
  CHECK(n >= 2);
}

TEST_CASE("stage-level cache hit: decode, make_key, Cache::find, write_answer allocate nothing") {
  cache::Cache c(1000, 86400);
  const uint64_t now = 1'000'000;
  const Msg query = client_query("WWW.Example.com", 1, 0x4242, 0x0100, true, 1232, false);
  {
    resolver::DecodedQuery q;
    REQUIRE(resolver::decode(query.span(), q) == resolver::DecodeResult::ok);
    c.insert(cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd), warm_answer(), now);
  }
  std::vector<uint8_t> out(65535);
  uint64_t answered = 0;
  uint64_t allocations = 0;
  {
    CountAllocations counter;
    for (int i = 0; i < 10'000; ++i) {
      resolver::DecodedQuery q;
      if (resolver::decode(query.span(), q) != resolver::DecodeResult::ok) break;
      const cache::CacheKey key = cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd);
      size_t len = 0;
      auto f = c.find(key, now + static_cast<uint64_t>(i) * 100, false, [&](const cache::CachedAnswer& a, uint32_t age) {
        len = resolver::write_answer(q, a, age, false, nullptr, out, resolver::answer_limit(q, resolver::Transport::udp));
      });
      if (f == cache::Freshness::fresh && len > 0) ++answered;
    }
    allocations = counter.count();
  }
  CHECK(answered == 10'000);
  CHECK(allocations == 0);
}

TEST_CASE("run_query cache hit through a real Worker allocates nothing") {
  config::Settings settings;
  std::string why;
  auto up = net::parse_socket_address("127.0.0.1:9", 53, why);
  auto listen = net::parse_socket_address("127.0.0.1:0", 53, why);
  REQUIRE(up);
  REQUIRE(listen);
  settings.upstreams.emplace_back().address = *up;
  settings.server.dns_listen.push_back(*listen);
  settings.server.threads = 1;
  settings.cache.max_entries = 1000;

  // No tenants → filtering off, so identify/decide run but let every client through.
  std::vector<config::ConfigError> errors;
  auto policies = policy::compile_policies(settings, static_cast<int64_t>(std::time(nullptr)), errors);
  REQUIRE(policies);
  REQUIRE(errors.empty());
  resolver::Engine engine(std::move(settings), std::move(policies));
  {
    resolver::Worker worker(engine, 0);  // never started: no thread, no sockets

    const Msg query = client_query("WWW.Example.com", 1, 0x4242, 0x0100, true, 1232, false);
    cache_answer(engine, query);

    resolver::Origin origin;
    origin.transport = resolver::Transport::udp;
    std::vector<uint8_t> out(65535);
    size_t out_len = 0;
    // Sanity: the hit produces the answer we expect.
    REQUIRE(resolver::run_query(worker, query.span(), origin, out, out_len) == resolver::Step::answered);
    REQUIRE(out_len > query.size());
    CHECK(sekisho_test::get16(out, 0) == 0x4242);
    CHECK(sekisho_test::get16(out, 6) == 2);
    const uint64_t hits_before = worker.counters().cache_hits;

    uint64_t answered = 0;
    uint64_t allocations = 0;
    {
      CountAllocations counter;
      for (int i = 0; i < 10'000; ++i) {
        out_len = 0;
        if (resolver::run_query(worker, query.span(), origin, out, out_len) == resolver::Step::answered && out_len > 0)
          ++answered;
      }
      allocations = counter.count();
    }
    CHECK(answered == 10'000);
    CHECK(allocations == 0);
    CHECK(worker.counters().cache_hits == hits_before + 10'000);
    CHECK(worker.counters().cache_misses == 0);
  }
}

// The filtering path as a loop runs it: a tenant by source network, the category store behind
// the loop's name memo, blocked answers with their EDE, cache hits, and a query-log record for
// every query pushed into the loop's ring.
TEST_CASE("run_query with a tenant, the category store and the query log allocates nothing") {
  sekisho::test::TempDir dir;
  const std::string store_dir = (dir.path / "store").string();
  sekisho_test::engine_load::write_store(store_dir);
  // One tenant (127.0.0.0/8) whose policy blocks malware with the block page and logs in full.
  config::Settings settings;
  std::string parse_error;
  settings.server.threads = 1;
  settings.server.dns_listen.push_back(*net::parse_socket_address("127.0.0.1:0", 53, parse_error));
  settings.upstreams.emplace_back().address = *net::parse_socket_address("127.0.0.1:9", 53, parse_error);
  sekisho::test::add_malware_tenant(settings, store_dir, (dir.path / "querylog").string());
  // And local names (resolver/local_answers.h): a record and a local zone's NXDOMAIN.
  config::LocalRecordSettings intranet;
  intranet.name = "intranet.corp.example";
  intranet.value = "10.1.2.3";
  settings.tenants[0].local_records.push_back(intranet);
  settings.tenants[0].local_zones.push_back("corp.example");
  std::vector<config::ConfigError> errors;
  auto policies = policy::compile_policies(settings, static_cast<int64_t>(std::time(nullptr)), errors);
  for (const auto& e : errors) FAIL_CHECK(e.to_string());
  REQUIRE(errors.empty());
  resolver::Engine engine(std::move(settings), std::move(policies));
  {
    resolver::Worker worker(engine, 0);  // never started: no thread, no sockets
    querylog::QueryLogRing ring(16384);
    worker.set_querylog_ring(&ring, true);

    const Msg allowed = client_query("www.example.com", 1, 0x1111, 0x0100, true, 1232, false);
    const Msg blocked = client_query("blocked.example", 1, 0x2222, 0x0100, true, 1232, false);
    const Msg below = client_query("www.Blocked.example", 1, 0x3333, 0x0100, true, 1232, false);
    const Msg local = client_query("Intranet.corp.example", 1, 0x4444, 0x0100, true, 1232, false);
    const Msg local_nx = client_query("nothere.corp.example", 1, 0x5555, 0x0100, true, 1232, false);
    cache_answer(engine, allowed);

    resolver::Origin origin;
    origin.transport = resolver::Transport::udp;
    std::string why;
    const auto peer = net::parse_socket_address("127.0.0.5:5353", 0, why);  // a tenant's network
    REQUIRE(peer);
    origin.peer = *peer;
    std::vector<uint8_t> out(65535);
    const uint8_t blockpage[4] = {192, 0, 2, 10};
    auto answers_with_blockpage = [&](size_t len) {
      return std::search(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len), blockpage, blockpage + 4) !=
             out.begin() + static_cast<std::ptrdiff_t>(len);
    };
    const Msg* queries[] = {&allowed, &blocked, &below, &local, &local_nx};
    auto run_batch = [&](int rounds, uint64_t& answered, uint64_t& blockpages) {
      resolver::BatchScope batch(worker);  // as the UDP listener wraps each receive batch
      for (int i = 0; i < rounds; ++i)
        for (const Msg* m : queries) {
          size_t out_len = 0;
          if (resolver::run_query(worker, m->span(), origin, out, out_len) != resolver::Step::answered || out_len == 0) continue;
          ++answered;
          blockpages += answers_with_blockpage(out_len);
        }
    };
    uint64_t answered = 0, blockpages = 0;
    run_batch(1, answered, blockpages);  // first sight: the name memo and the store's snapshot
    REQUIRE(answered == 5);
    REQUIRE(blockpages == 2);
    const uint64_t memo_misses = worker.counters().category_memo_misses;

    answered = blockpages = 0;
    uint64_t allocations = 0;
    {
      CountAllocations counter;
      for (int b = 0; b < 100; ++b) run_batch(21, answered, blockpages);  // 105 queries a batch
      allocations = counter.count();
    }
    CHECK(answered == 10500);
    CHECK(blockpages == 4200);
    CHECK(allocations == 0);
    CHECK(worker.counters().category_memo_misses == memo_misses);  // repeats came from the memo
    CHECK(worker.counters().cache_hits >= 2100);
    CHECK(worker.counters().local_answered == 4202);
    CHECK(ring.size_approx() == 10505);  // one record a query, none dropped
    CHECK(ring.dropped() == 0);

  }
}

}  // TEST_SUITE
