// The admin API's reads against a real Engine under load, wired as daemon/daemon.cc wires the
// admin service: the live configuration, the query-log writer's statistics, the query-log
// files, the category store, /metrics from Engine::sample(). This thread plays the admin
// thread while client threads query the loops and another thread publishes configurations
// (SIGHUP). Run in the ThreadSanitizer build (README "Testing") it checks those reads for data
// races; in every build, that each answers and that the statistics it reads only ever grow.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "admin/api/api.h"
#include "admin/api/metrics.h"
#include "admin/api/token.h"
#include "tests/unit/resolver/engine_load.h"

using namespace sekisho;
using namespace sekisho_test::engine_load;

namespace {

config::Settings with_operator(config::Settings s, const std::string& token) {
  config::AdminTokenSettings root;
  root.name = "root";
  root.role = config::AdminRole::operator_role;
  root.sha256 = admin::sha256_hex(token);
  s.admin.tokens.push_back(root);
  return s;
}

net::http::Response get(admin::Api& api, const std::string& target, const std::string& token) {
  net::http::Request r;
  r.method = "GET";
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  r.headers.push_back({"authorization", "Bearer " + token});
  std::string why;
  r.peer = *net::parse_socket_address("127.0.0.1:40000", 0, why);
  return api.handle(r);
}

}  // namespace

TEST_SUITE("admin.api_under_load") {

TEST_CASE("the admin API reads statistics, query log, store and metrics while the loops serve and reloads publish") {
  sekisho::test::TempDir dir;
  write_store((dir.path / "store").string());
  Upstream upstream;
  ReservedPort port;
  const std::string token = admin::new_token();
  auto settings = [&](bool block) { return with_operator(settings_for(port.port(), upstream.port(), dir, block), token); };

  const config::Settings first = settings(true);
  resolver::Engine engine(first, compile(first));
  Serving serving(engine, port);

  admin::ApiHost host;
  host.live = [&engine] {
    const auto rt = engine.current();
    admin::LiveConfig live;
    live.settings = std::shared_ptr<const config::Settings>(rt, &rt->settings);
    live.policies = rt->policies;
    live.generation = rt->generation;
    return live;
  };
  host.store = engine.category_store();
  host.querylog = engine.querylog();
  host.querylog_directory = engine.querylog_directory();
  host.stats_directory = admin::daily_stats_directory(engine.querylog_directory());
  admin::Api api(std::move(host));

  Clients clients(port.port(), 4, 300);
  std::atomic<bool> publishing{true};
  std::atomic<uint64_t> published{0};
  std::thread reloads([&] {  // the SIGHUP path, on a thread of its own as on sekishod's control loop
    while (publishing) {
      const config::Settings next = settings(published % 2 == 1);
      engine.publish(next, compile(next));
      ++published;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  uint64_t rounds = 0, last_queries = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((clients.running() || rounds < 20) && std::chrono::steady_clock::now() < deadline) {
    const auto stats = get(api, "/api/v1/stats?tenant=acme", token);
    REQUIRE(stats.status == 200);
    const uint64_t queries = nlohmann::json::parse(stats.body).at("queries").get<uint64_t>();
    CHECK(queries >= last_queries);  // the writer's statistics never go back
    last_queries = queries;
    CHECK(get(api, "/api/v1/querylog?tenant=acme&limit=20", token).status == 200);
    CHECK(get(api, "/api/v1/check?tenant=acme&name=x.blocked.example", token).status == 200);
    CHECK(get(api, "/api/v1/store", token).status == 200);
    CHECK(get(api, "/api/v1/tenants", token).status == 200);
    CHECK(admin::render_metrics(engine.sample()).find("sekisho_") != std::string::npos);
    if (rounds % 10 == 0) api.persist_daily_stats();  // the service's timer, on the admin thread
    ++rounds;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ClientTally total = clients.wait();
  publishing = false;
  reloads.join();
  serving.stop();

  CHECK(total.unanswered == 0);
  CHECK(published > 0);
  // The writer has stopped: what the API reads now is final, and no less than anything read before.
  const auto stats = get(api, "/api/v1/stats?tenant=acme", token);
  REQUIRE(stats.status == 200);
  const uint64_t final_queries = nlohmann::json::parse(stats.body).at("queries").get<uint64_t>();
  CHECK(final_queries >= last_queries);
  CHECK(final_queries > 0);
  MESSAGE(rounds, " rounds of admin reads beside ", published.load(), " reloads and ", total.answered,
          " answers; the tenant's statistics count ", final_queries, " queries");
}

}  // TEST_SUITE
