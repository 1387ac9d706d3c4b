// A real Engine in-process: its loops serve UDP and TCP queries from client threads (cache hits,
// upstream misses, blocked names, malformed messages) while this thread publishes new
// configurations and takes Engine::sample(), as the admin thread and SIGHUP do in sekishod.
// Run in the ThreadSanitizer build (README "Testing"), it checks the counters and the reload
// path for data races; in every build it checks that no count is lost: the loops' totals equal
// what the clients sent and saw.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string_view>
#include <thread>

#include "tests/unit/resolver/engine_load.h"

using namespace sekisho;
using namespace sekisho_test::engine_load;

TEST_SUITE("resolver.engine_concurrency") {

TEST_CASE("loops serve while configurations are published and the counters sampled, and no count is lost") {
  sekisho::test::TempDir dir;
  write_store((dir.path / "store").string());
  Upstream upstream;
  ReservedPort port;

  const config::Settings first = settings_for(port.port(), upstream.port(), dir, true);
  resolver::Engine engine(first, compile(first));
  Serving serving(engine, port);

  Clients clients(port.port(), 4, 300);

  // Meanwhile: new generations (blocking malware, then not, …) and samples, about one a
  // millisecond, bounded in count and time.
  uint64_t published = 0, samples = 0, last_queries = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((clients.running() || published < 20) && published < 2000 && std::chrono::steady_clock::now() < deadline) {
    const config::Settings next = settings_for(port.port(), upstream.port(), dir, published % 2 == 1);
    const uint64_t generation = engine.publish(next, compile(next));
    ++published;
    CHECK(generation == published + 1);
    const resolver::EngineSample s = engine.sample();
    ++samples;
    const uint64_t queries = s.queries[0] + s.queries[1];
    CHECK(queries >= last_queries);  // a sample is never behind an earlier one
    last_queries = queries;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // leave the 2 cores of CI to the loops
  }
  const ClientTally total = clients.wait();
  serving.stop();

  CHECK(total.unanswered == 0);
  CHECK(total.answered == total.udp_sent - total.malformed_sent + total.tcp_sent);
  CHECK(total.blockpages > 0);
  CHECK(published >= 20);

  // The loops have stopped: the sample is exact.
  const resolver::EngineSample s = engine.sample();
  CHECK(s.config_generation == published + 1);
  auto queries_over = [&](std::string_view transport) {
    const auto& labels = resolver::kTransportLabels;
    return s.queries[static_cast<size_t>(std::find(labels.begin(), labels.end(), transport) - labels.begin())];
  };
  CHECK(queries_over("udp") == total.udp_sent);
  CHECK(queries_over("tcp") == total.tcp_sent);
  CHECK(s.malformed == total.malformed_sent);
  CHECK(s.blocked == total.blockpages);
  CHECK(s.cache_hits + s.cache_misses > 0);
  CHECK(s.forwarder.upstream_queries >= 1);
  CHECK(s.category_memo_hits + s.category_memo_misses > 0);
  uint64_t latency_count = 0;
  for (uint64_t b : s.latency.buckets) latency_count += b;
  CHECK(latency_count >= total.answered);
  MESSAGE("published ", published, " generations and took ", samples, " samples while serving ", total.answered,
          " answers");
}

}  // TEST_SUITE
