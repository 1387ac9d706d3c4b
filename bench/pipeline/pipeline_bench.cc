// bench/pipeline/pipeline_bench.cc: the per-query cost of the pipeline (resolver/pipeline.cc)
// in one process, with no sockets: a real Engine and an unstarted Worker, queries handed to
// run_query in batches of 64 as the UDP listener does (BatchScope around each batch).
//
//   pipeline_bench WORKLOAD [QUERIES]      WORKLOAD: hit | hit_tenant | hit_tenant_nolog | blocked | monitored
//
//   hit         no tenants, no query log: cache hits over 1000 names (bench/run.sh's workload)
//   hit_tenant  one tenant (127.0.0.0/8) blocking malware, the category store, a query-log
//               record per query: cache hits over 1000 allowed names
//   hit_tenant_nolog  the same with the policy's `log: none` (the record still goes to the
//               ring, for the tenant's statistics): what `log: full` costs the loop
//   blocked     the same tenant: 1000 names the store lists as malware, answered with the
//               block page (the name memo answers the store lookups after the first batch)
//   monitored   the same names with malware at level monitor instead of block: cache hits,
//               each recorded as monitored (README "Levels, monitor mode and holidays")
//
// Prints ns per query (wall clock; noisy on a shared machine). Under callgrind only the batches
// are collected (the query-log ring is drained outside them, as the writer thread would), so
// instructions per query are stable: see run.sh.
#include <arpa/inet.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "policy/policy.h"
#include "policy/querylog/ring.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/store_writer.h"
#include "resolver/cache/answer.h"
#include "resolver/cache/cache_key.h"
#include "resolver/decode.h"
#include "resolver/engine.h"
#include "resolver/pipeline.h"
#include "resolver/worker.h"
#include "tests/unit/dns/dns_builder.h"
#include "tests/unit/resolver/malware_tenant.h"

namespace {

using namespace sekisho;
using sekisho_test::Msg;

constexpr int kNames = 1000;
constexpr int kBatch = 64;

std::string name_of(char prefix, int i) { return std::string(1, prefix) + std::to_string(i) + ".bench.example"; }

Msg query_for(const std::string& name, uint16_t id) { return sekisho_test::client_query(name, 1, id, 0x0100, true, 1232); }

// Puts an upstream answer (one A record, TTL 1 day) for `query`'s question into the cache.
bool cache_answer(resolver::Engine& engine, const Msg& query) {
  resolver::DecodedQuery q;
  if (resolver::decode(query.span(), q) != resolver::DecodeResult::ok) return false;
  Msg up;
  up.header(1, 0x8180, 1, 1, 0, 1).raw(query.span().subspan(12, q.question.qname_len + 4)).a_ptr(86400).opt();
  size_t pos = 12;
  dns::Question asked;
  if (!dns::read_question(up.span(), pos, asked)) return false;
  cache::CachedAnswer a;
  std::string why;
  if (!cache::make_cached_answer(up.span(), pos, config::CacheSettings{}, a, why)) return false;
  engine.cache().insert(cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd), std::move(a),
                        monotonic_ms());
  return true;
}

// A store listing b0…b999.bench.example (and their subdomains) as malware.
void write_store(const std::string& dir) {
  std::filesystem::create_directories(dir);
  policy::StoreWriter w(dir);
  policy::EntrySet set;
  const policy::CategorySet malware(uint64_t{1} << policy::CategoryRegistry::builtins().by_slug("malware")->id);
  char key[policy::kMaxKeyLen];
  for (int i = 0; i < kNames; ++i) {
    const size_t n = policy::make_name_key(name_of('b', i), key);
    set.add_domain(std::string(key, n), policy::kFlagSubtree, malware);
  }
  set.finalize();
  policy::SourceInfo info;
  info.name = "bench";
  info.format = "domains";
  w.replace_source(info, set);
}

config::Settings base_settings() {
  config::Settings s;
  std::string why;
  s.server.threads = 1;
  s.server.dns_listen.push_back(*net::parse_socket_address("127.0.0.1:0", 53, why));
  s.upstreams.emplace_back().address = *net::parse_socket_address("127.0.0.1:9", 53, why);
  s.cache.max_entries = 64 * kNames;  // roomy: no name of the set is evicted by another
  return s;
}


// The measured unit: one receive batch. Not inlined, so that a profile shows it whole.
__attribute__((noinline)) uint64_t run_batch(resolver::Worker& worker, const std::vector<Msg>& queries, size_t& next,
                                             const resolver::Origin& origin, std::vector<uint8_t>& out) {
  uint64_t answered = 0;
  resolver::BatchScope batch(worker);
  for (int i = 0; i < kBatch; ++i) {
    const Msg& m = queries[next];
    next = next + 1 == queries.size() ? 0 : next + 1;
    size_t len = 0;
    if (resolver::run_query(worker, m.span(), origin, out, len) == resolver::Step::answered && len > 0) ++answered;
  }
  return answered;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view workload = argc > 1 ? argv[1] : "";
  const long total = argc > 2 ? std::atol(argv[2]) : 1'000'000;
  if ((workload != "hit" && workload != "hit_tenant" && workload != "hit_tenant_nolog" && workload != "blocked" &&
       workload != "monitored") ||
      total < kBatch) {
    std::fprintf(stderr, "usage: pipeline_bench hit|hit_tenant|hit_tenant_nolog|blocked|monitored [QUERIES >= %d]\n", kBatch);
    return 2;
  }
  const bool tenant = workload != "hit";
  std::string dir = (std::filesystem::temp_directory_path() / "sekisho-pipeline-bench-XXXXXX").string();
  if (!::mkdtemp(dir.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  config::Settings settings = base_settings();
  if (tenant) {
    write_store(dir + "/store");
    sekisho::test::add_malware_tenant(settings, dir + "/store", dir + "/querylog");
    if (workload == "hit_tenant_nolog") settings.policies["office"].log = config::LogMode::none;
    if (workload == "monitored") {  // the same names at level monitor: resolved (cached), logged monitored
      config::PolicySettings& office = settings.policies["office"];
      office.monitor = office.block;
      office.block.clear();
    }
  }
  std::vector<config::ConfigError> errors;
  auto policies = policy::compile_policies(settings, static_cast<int64_t>(std::time(nullptr)), errors);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!policies || !errors.empty()) return 1;

  int status = 0;
  {
    resolver::Engine engine(std::move(settings), std::move(policies));
    resolver::Worker worker(engine, 0);  // never started: no thread, no sockets
    querylog::QueryLogRing ring(16384);
    if (tenant) worker.set_querylog_ring(&ring, true);

    std::vector<Msg> queries;
    for (int i = 0; i < kNames; ++i) {
      queries.push_back(query_for(name_of(workload == "blocked" || workload == "monitored" ? 'b' : 'n', i),
                                  static_cast<uint16_t>(i)));
      if (workload != "blocked" && !cache_answer(engine, queries.back())) return 1;
    }
    resolver::Origin origin;
    origin.transport = resolver::Transport::udp;
    std::string why;
    origin.peer = *net::parse_socket_address("127.0.0.5:5353", 0, why);  // in the tenant's network
    std::vector<uint8_t> out(65535);
    std::vector<querylog::QueryRecord> sink(kBatch);
    auto drain = [&] { while (ring.pop_batch(sink.data(), sink.size()) > 0) {} };

    size_t next = 0;
    uint64_t answered = 0;
    for (int i = 0; i < 2 * kNames / kBatch + 1; ++i) {  // warm-up: name memo, store snapshot
      answered += run_batch(worker, queries, next, origin, out);
      drain();
    }
    const long batches = total / kBatch;
    answered = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long b = 0; b < batches; ++b) {
      CALLGRIND_TOGGLE_COLLECT;
      answered += run_batch(worker, queries, next, origin, out);
      CALLGRIND_TOGGLE_COLLECT;
      drain();
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t measured = static_cast<uint64_t>(batches) * kBatch;
    std::printf("workload=%s queries=%llu answered=%llu ns_per_query=%.1f cache_misses=%llu dropped_records=%llu\n",
                std::string(workload).c_str(), static_cast<unsigned long long>(measured),
                static_cast<unsigned long long>(answered), ns / static_cast<double>(measured),
                static_cast<unsigned long long>(worker.counters().cache_misses),
                static_cast<unsigned long long>(ring.dropped()));
    if (answered != measured || worker.counters().cache_misses != 0) status = 1;  // every query answered at once
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return status;
}
