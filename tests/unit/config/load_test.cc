// config/yaml/load: YAML → Settings, and every error located by file:line:col and key path.
#include <doctest/doctest.h>

#include <netinet/in.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/advice.h"
#include "config/yaml/load.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using config::ConfigError;
using config::LoadResult;

namespace {

constexpr const char* kExample = R"(server:
  threads: 2
  listen:
    dns: ["127.0.0.1:5353", "[::1]:5353"]
  tcp: {idle_timeout_ms: 10000, max_connections: 1024, max_pipelined: 128}
  drain_timeout_ms: 3000
upstreams:
  - 127.0.0.1:5399
  - address: "[::1]:5399"
    transport: tcp
forwarding: {timeout_ms: 1000, attempts: 3}
cache: {max_entries: 1000000, serve_stale: 86400, min_ttl: 0, max_ttl: 86400, negative_max_ttl: 3600}
log: {level: info}
)";

// A valid base that individual cases change one line of.
constexpr const char* kMinimal = R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
upstreams:
  - 127.0.0.1:5399
)";

LoadResult load(const std::string& yaml) { return config::load_config_text(yaml, "test.yaml"); }

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

// The single error of `r`, checked to be located and to name `path`.
const ConfigError& only_error(const LoadResult& r, const std::string& path) {
  INFO(all_errors(r));
  REQUIRE(r.errors.size() == 1);
  const ConfigError& e = r.errors[0];
  CHECK(e.file == "test.yaml");
  CHECK(e.path == path);
  CHECK(e.line > 0);
  CHECK(e.column > 0);
  const std::string text = e.to_string();
  const std::string prefix = "test.yaml:" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": ";
  CHECK(text.rfind(prefix, 0) == 0);
  CHECK(text.find(path + ": ") != std::string::npos);
  return e;
}

std::string addr(const net::SocketAddress& a) { return a.to_string(); }

}  // namespace

TEST_SUITE("admin.config") {

TEST_CASE("the issue's example config loads into the settings") {
  LoadResult r = load(kExample);
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const config::Settings& s = r.settings;
  CHECK(s.source == "test.yaml");
  CHECK(s.server.threads == 2);
  REQUIRE(s.server.dns_listen.size() == 2);
  CHECK(addr(s.server.dns_listen[0]) == "127.0.0.1:5353");
  CHECK(s.server.dns_listen[0].family() == AF_INET);
  CHECK(addr(s.server.dns_listen[1]) == "[::1]:5353");
  CHECK(s.server.dns_listen[1].family() == AF_INET6);
  CHECK(s.server.dns_listen[1].port() == 5353);
  CHECK(s.server.tcp.idle_timeout_ms == 10000);
  CHECK(s.server.tcp.max_connections == 1024);
  CHECK(s.server.tcp.max_pipelined == 128);
  CHECK(s.server.tcp.frame_timeout_ms == 2000);
  CHECK(s.server.tcp.max_connections_per_address == 64);
  CHECK(s.server.drain_timeout_ms == 3000);
  REQUIRE(s.upstreams.size() == 2);
  CHECK(addr(s.upstreams[0].address) == "127.0.0.1:5399");
  CHECK(s.upstreams[0].transport == config::UpstreamTransport::udp);
  CHECK(addr(s.upstreams[1].address) == "[::1]:5399");
  CHECK(s.upstreams[1].address.family() == AF_INET6);
  CHECK(s.upstreams[1].transport == config::UpstreamTransport::tcp);
  CHECK(s.forwarding.timeout_ms == 1000);
  CHECK(s.forwarding.attempts == 3);
  CHECK(s.forwarding.tcp_connections_per_upstream == 4);
  CHECK(s.forwarding.tcp_idle_timeout_ms == 10000);
  CHECK(s.forwarding.max_upstream_sockets == 4096);
  CHECK(s.cache.max_entries == 1000000);
  CHECK(s.cache.serve_stale == 86400);
  CHECK(s.cache.min_ttl == 0);
  CHECK(s.cache.max_ttl == 86400);
  CHECK(s.cache.negative_max_ttl == 3600);
  CHECK(s.log_level == log::Level::info);
}

TEST_CASE("non-default values are really read (not defaults that happen to match)") {
  LoadResult r = load(R"(server:
  threads: 7
  listen: {dns: ["10.1.2.3:53"]}
  tcp: {idle_timeout_ms: 2500, max_connections: 9, max_pipelined: 3, frame_timeout_ms: 700, max_connections_per_address: 0}
  drain_timeout_ms: 42
upstreams: ["192.0.2.1"]
forwarding: {timeout_ms: 250, attempts: 5, tcp_connections_per_upstream: 2, tcp_idle_timeout_ms: 750, max_upstream_sockets: 33}
cache: {max_entries: 17, serve_stale: 0, min_ttl: 11, max_ttl: 99, negative_max_ttl: 12}
log: {level: debug}
category_db: /var/lib/sekisho/db
)");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const config::Settings& s = r.settings;
  CHECK(s.server.threads == 7);
  CHECK(addr(s.server.dns_listen.at(0)) == "10.1.2.3:53");
  CHECK(s.server.tcp.idle_timeout_ms == 2500);
  CHECK(s.server.tcp.max_connections == 9);
  CHECK(s.server.tcp.max_pipelined == 3);
  CHECK(s.server.tcp.frame_timeout_ms == 700);
  CHECK(s.server.tcp.max_connections_per_address == 0);
  CHECK(s.server.drain_timeout_ms == 42);
  REQUIRE(s.upstreams.size() == 1);
  CHECK(addr(s.upstreams[0].address) == "192.0.2.1:53");  // bare address takes port 53
  CHECK(s.forwarding.timeout_ms == 250);
  CHECK(s.forwarding.attempts == 5);
  CHECK(s.forwarding.tcp_connections_per_upstream == 2);
  CHECK(s.forwarding.tcp_idle_timeout_ms == 750);
  CHECK(s.forwarding.max_upstream_sockets == 33);
  CHECK(s.cache.max_entries == 17);
  CHECK(s.cache.serve_stale == 0);
  CHECK(s.cache.min_ttl == 11);
  CHECK(s.cache.max_ttl == 99);
  CHECK(s.cache.negative_max_ttl == 12);
  CHECK(s.log_level == log::Level::debug);
  CHECK(s.category_db == "/var/lib/sekisho/db");
}

TEST_CASE("upstreams as scalar, as mapping, and IPv6") {
  LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - "[2001:db8::1]:5300"
  - address: 192.0.2.9:5301
  - address: "[2001:db8::2]"
    transport: udp
  - {address: "127.0.0.1:5302", transport: tcp}
)");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const auto& u = r.settings.upstreams;
  REQUIRE(u.size() == 4);
  CHECK(addr(u[0].address) == "[2001:db8::1]:5300");
  CHECK(u[0].address.family() == AF_INET6);
  CHECK(u[0].transport == config::UpstreamTransport::udp);
  CHECK(addr(u[1].address) == "192.0.2.9:5301");
  CHECK(u[1].transport == config::UpstreamTransport::udp);
  CHECK(addr(u[2].address) == "[2001:db8::2]:53");
  CHECK(addr(u[3].address) == "127.0.0.1:5302");
  CHECK(u[3].transport == config::UpstreamTransport::tcp);
}

TEST_CASE("unknown top-level key") {
  LoadResult r = load(std::string(kMinimal) + "cahce: {max_entries: 5}\n");
  const ConfigError& e = only_error(r, "cahce");
  CHECK(e.line == 6);
  CHECK(e.column == 1);
  CHECK(e.message.find("unknown key") != std::string::npos);
}

TEST_CASE("unknown nested key") {
  LoadResult r = load(R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
  tcp:
    idle_timeout_ms: 500
    max_conections: 5
upstreams: [127.0.0.1:5399]
)");
  const ConfigError& e = only_error(r, "server.tcp.max_conections");
  CHECK(e.line == 6);
  CHECK(e.column == 5);
}

TEST_CASE("unknown key inside an upstream mapping") {
  LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - address: 127.0.0.1:5399
    tranport: tcp
)");
  const ConfigError& e = only_error(r, "upstreams[0].tranport");
  CHECK(e.line == 4);
}

TEST_CASE("bad addresses") {
  SUBCASE("port out of range in listen") {
    LoadResult r = load(R"(server:
  listen:
    dns: ["127.0.0.1:5353", "127.0.0.1:99999"]
upstreams: [127.0.0.1:5399]
)");
    const ConfigError& e = only_error(r, "server.listen.dns[1]");
    CHECK(e.line == 3);
    CHECK(e.message.find("99999") != std::string::npos);
  }
  SUBCASE("unclosed IPv6 bracket in an upstream") {
    LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - 127.0.0.1:5399
  - "[::1"
)");
    const ConfigError& e = only_error(r, "upstreams[1]");
    CHECK(e.line == 4);
    CHECK(e.column == 5);
    CHECK(e.message.find("]") != std::string::npos);
  }
  SUBCASE("not an address") {
    LoadResult r = load(R"(server: {listen: {dns: ["localhost:53", "127.0.0.1:53"]}}
upstreams: [127.0.0.1:5399]
)");
    only_error(r, "server.listen.dns[0]");
  }
  SUBCASE("upstream port 0") {
    LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams: ["127.0.0.1:0", "127.0.0.1:53"]
)");
    only_error(r, "upstreams[0]");
  }
  SUBCASE("upstream mapping address bad") {
    LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - address: "127.0.0.1:70000"
  - 127.0.0.1:53
)");
    const ConfigError& e = only_error(r, "upstreams[0].address");
    CHECK(e.line == 3);
    CHECK(e.column == 14);
  }
  SUBCASE("upstream mapping without address") {
    LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - 127.0.0.1:5399
  - transport: tcp
)");
    const ConfigError& e = only_error(r, "upstreams[1]");
    CHECK(e.message.find("address") != std::string::npos);
  }
}

TEST_CASE("transport quic is rejected") {
  LoadResult r = load(R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams:
  - 127.0.0.1:5399
  - address: "[::1]:5399"
    transport: quic
)");
  const ConfigError& e = only_error(r, "upstreams[1].transport");
  CHECK(e.line == 5);
  CHECK(e.column == 16);
  CHECK(e.message.find("quic") != std::string::npos);
}

TEST_CASE("threads: two") {
  LoadResult r = load(R"(server:
  threads: two
  listen: {dns: ["127.0.0.1:5353"]}
upstreams: [127.0.0.1:5399]
)");
  const ConfigError& e = only_error(r, "server.threads");
  CHECK(e.line == 2);
  CHECK(e.column == 12);
  CHECK(e.message.find("two") != std::string::npos);
}

TEST_CASE("negative numbers are rejected, with the key path") {
  struct Case {
    std::string yaml;
    std::string path;
    int line;
  };
  const std::vector<Case> cases = {
      {std::string(kMinimal) + "cache: {max_entries: -1}\n", "cache.max_entries", 6},
      {std::string(kMinimal) + "cache:\n  min_ttl: -5\n", "cache.min_ttl", 7},
      {std::string(kMinimal) + "forwarding: {timeout_ms: -1000}\n", "forwarding.timeout_ms", 6},
      {"server:\n  threads: -2\n  listen: {dns: [\"127.0.0.1:5353\"]}\nupstreams: [127.0.0.1:5399]\n", "server.threads", 2},
      {"server:\n  listen: {dns: [\"127.0.0.1:5353\"]}\n  tcp: {max_pipelined: -1}\nupstreams: [127.0.0.1:5399]\n",
       "server.tcp.max_pipelined", 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path);
    LoadResult r = load(c.yaml);
    const ConfigError& e = only_error(r, c.path);
    CHECK(e.line == c.line);
  }
}

TEST_CASE("out-of-range numbers") {
  LoadResult r = load(std::string(kMinimal) + "forwarding: {attempts: 0}\n");
  const ConfigError& e = only_error(r, "forwarding.attempts");
  CHECK(e.message.find("out of range") != std::string::npos);
  LoadResult big = load(std::string(kMinimal) + "cache: {max_ttl: 99999999999999999999999}\n");
  only_error(big, "cache.max_ttl");
}

TEST_CASE("upstream TCP pool limits out of range: the key path and its line") {
  struct Case {
    std::string yaml;
    std::string path;
    int line;
  };
  const std::vector<Case> cases = {
      {std::string(kMinimal) + "forwarding: {tcp_connections_per_upstream: 0}\n", "forwarding.tcp_connections_per_upstream", 6},
      {std::string(kMinimal) + "forwarding:\n  attempts: 2\n  tcp_connections_per_upstream: 65\n",
       "forwarding.tcp_connections_per_upstream", 8},
      {std::string(kMinimal) + "forwarding:\n  tcp_idle_timeout_ms: 99\n", "forwarding.tcp_idle_timeout_ms", 7},
      {std::string(kMinimal) + "forwarding: {tcp_idle_timeout_ms: 600001}\n", "forwarding.tcp_idle_timeout_ms", 6},
      {std::string(kMinimal) + "forwarding: {max_upstream_sockets: 15}\n", "forwarding.max_upstream_sockets", 6},
      {"server:\n  listen: {dns: [\"127.0.0.1:5353\"]}\n  tcp: {frame_timeout_ms: 99}\nupstreams: [127.0.0.1:5399]\n",
       "server.tcp.frame_timeout_ms", 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    LoadResult r = load(c.yaml);
    const ConfigError& e = only_error(r, c.path);
    CHECK(e.line == c.line);
    CHECK(e.message.find("out of range") != std::string::npos);
  }
  // The bounds themselves are accepted.
  LoadResult edges = load(std::string(kMinimal) + "forwarding: {tcp_connections_per_upstream: 64, tcp_idle_timeout_ms: 100}\n");
  INFO(all_errors(edges));
  REQUIRE(edges.ok());
  CHECK(edges.settings.forwarding.tcp_connections_per_upstream == 64);
  CHECK(edges.settings.forwarding.tcp_idle_timeout_ms == 100);
}

TEST_CASE("min_ttl larger than max_ttl") {
  LoadResult r = load(std::string(kMinimal) + "cache:\n  min_ttl: 600\n  max_ttl: 300\n");
  const ConfigError& e = only_error(r, "cache.min_ttl");
  CHECK(e.message.find("max_ttl") != std::string::npos);
  // Equal is fine.
  CHECK(load(std::string(kMinimal) + "cache: {min_ttl: 300, max_ttl: 300}\n").ok());
  // Only min_ttl given, above the default max_ttl (86400) — and min_ttl's own limit is 86400, so use max_ttl.
  LoadResult r2 = load(std::string(kMinimal) + "cache: {max_ttl: 10}\n");
  CHECK(r2.ok());
  LoadResult r3 = load(std::string(kMinimal) + "cache: {min_ttl: 20, max_ttl: 10}\n");
  only_error(r3, "cache.min_ttl");
}

TEST_CASE("YAML syntax errors report the line of the error") {
  SUBCASE("unclosed flow sequence") {
    LoadResult r = load("server:\n  listen:\n    dns: [\"127.0.0.1:5353\"\nupstreams: [127.0.0.1:5399]\n");
    INFO(all_errors(r));
    REQUIRE(r.errors.size() == 1);
    const ConfigError& e = r.errors[0];
    CHECK(e.line >= 3);
    CHECK(e.line <= 4);
    CHECK(e.message.find("YAML syntax error") != std::string::npos);
    CHECK(e.to_string().rfind("test.yaml:" + std::to_string(e.line) + ":", 0) == 0);
  }
  SUBCASE("bad indentation") {
    LoadResult r = load("server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\n   bad: [\n");
    INFO(all_errors(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line >= 4);
    CHECK(r.errors[0].message.find("YAML syntax error") != std::string::npos);
  }
  SUBCASE("tab-free but invalid mapping on line 5") {
    LoadResult r = load("server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [127.0.0.1:5399]\nlog: {level: info\n");
    INFO(all_errors(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line >= 5);
  }
}

TEST_CASE("empty listen list") {
  LoadResult r = load(R"(server:
  listen:
    dns: []
upstreams: [127.0.0.1:5399]
)");
  const ConfigError& e = only_error(r, "server.listen.dns");
  CHECK(e.message.find("listen") != std::string::npos);
}

TEST_CASE("wrong node kinds") {
  LoadResult r = load(R"(server:
  listen:
    dns: "127.0.0.1:5353"
upstreams: 127.0.0.1:5399
cache: [1, 2]
)");
  INFO(all_errors(r));
  bool dns = false, ups = false, cache = false;
  for (const auto& e : r.errors) {
    dns = dns || e.path == "server.listen.dns";
    ups = ups || e.path == "upstreams";
    cache = cache || e.path == "cache";
    CHECK(e.line > 0);
  }
  CHECK(dns);
  CHECK(ups);
  CHECK(cache);
  LoadResult top = load("- 1\n- 2\n");
  CHECK_FALSE(top.ok());
}

TEST_CASE("several errors at once are all reported, in order, each located") {
  LoadResult r = load(R"(server:
  threads: two
  listen:
    dns: ["127.0.0.1:99999", "[::1"]
  bogus: 1
upstreams:
  - address: "[::1]:5399"
    transport: quic
forwarding: {timeout_ms: -1}
cache: {min_ttl: 600, max_ttl: 300}
log: {level: loud}
extra: true
)");
  INFO(all_errors(r));
  std::vector<std::string> paths;
  for (const auto& e : r.errors) {
    paths.push_back(e.path);
    CHECK(e.line > 0);
    CHECK(e.to_string().find(e.path) != std::string::npos);
  }
  const std::vector<std::string> expected = {"server.threads", "server.listen.dns[0]", "server.listen.dns[1]",
                                             "server.bogus", "upstreams[0].transport", "forwarding.timeout_ms",
                                             "cache.min_ttl", "log.level", "extra", "server.listen.dns",
                                             "upstreams"};
  for (const auto& p : expected) {
    CAPTURE(p);
    CHECK(std::find(paths.begin(), paths.end(), p) != paths.end());
  }
  CHECK(r.errors.size() == expected.size());
  // Line numbers point at each offending line.
  for (const auto& e : r.errors) {
    if (e.path == "server.threads") CHECK(e.line == 2);
    if (e.path == "server.listen.dns[1]") CHECK(e.line == 4);
    if (e.path == "server.bogus") CHECK(e.line == 5);
    if (e.path == "upstreams[0].transport") CHECK(e.line == 8);
    if (e.path == "forwarding.timeout_ms") CHECK(e.line == 9);
    if (e.path == "log.level") CHECK(e.line == 11);
    if (e.path == "extra") CHECK(e.line == 12);
  }
}

TEST_CASE("ConfigError::to_string formats") {
  ConfigError e{"f.yaml", 3, 7, "cache.max_ttl", "bad"};
  CHECK(e.to_string() == "f.yaml:3:7: cache.max_ttl: bad");
  ConfigError nowhere{"f.yaml", 0, 0, "", "cannot open"};
  CHECK(nowhere.to_string() == "f.yaml: cannot open");
}

TEST_CASE("a key written twice is an error, not a silently ignored block") {
  // The issue's case: a second `policies:` blocking gambling would have been read as nothing.
  LoadResult r = load(std::string(kMinimal) + R"(policies:
  office: {block: [adult]}
policies:
  office: {block: [gambling]}
)");
  const ConfigError& e = only_error(r, "policies");
  CHECK(e.line == 8);
  CHECK(e.column == 1);
  CHECK(e.message.find("duplicate key") != std::string::npos);
  CHECK(e.message.find("line 6") != std::string::npos);
}

TEST_CASE("duplicate keys are found at every depth, in flow style and in lists") {
  LoadResult r = load(R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
  tcp: {idle_timeout_ms: 500, idle_timeout_ms: 600}
upstreams:
  - address: 127.0.0.1:5399
    transport: tcp
    transport: udp
policies:
  office: {block: [adult]}
  office: {block: [games]}
)");
  INFO(all_errors(r));
  // The fourth is the policy reader's own "defined twice", which also covers tenants.d files.
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].path == "server.tcp.idle_timeout_ms");
  CHECK(r.errors[0].line == 4);
  CHECK(r.errors[1].path == "upstreams[0].transport");
  CHECK(r.errors[1].line == 8);
  CHECK(r.errors[2].path == "policies.office");
  CHECK(r.errors[2].line == 11);
}

TEST_CASE("the same key in different mappings, and aliases, are fine") {
  LoadResult r = load(std::string(kMinimal) + R"(policies:
  a: &p {block: [adult], safe_search: true}
  b: *p
  c: {block: [adult], safe_search: true}
)");
  CHECK_MESSAGE(r.errors.empty(), all_errors(r));
  CHECK(r.settings.policies.size() == 3);
}

TEST_CASE("a duplicate key in a tenants.d file is reported with that file") {
  sekisho::test::TempDir dir;
  const std::string main = (dir.path / "sekisho.yaml").string();
  std::ofstream(main) << kMinimal;
  std::filesystem::create_directory(dir.path / "tenants.d");
  const std::string tenant = (dir.path / "tenants.d" / "acme.yaml").string();
  std::ofstream(tenant) << "tenants:\n  - id: acme\n    networks: [10.0.0.0/8]\n    networks: [0.0.0.0/0]\n";
  LoadResult r = config::load_config_file(main);
  INFO(all_errors(r));
  REQUIRE(!r.errors.empty());
  CHECK(r.errors[0].file == tenant);
  CHECK(r.errors[0].path == "tenants[0].networks");
  CHECK(r.errors[0].line == 4);
  CHECK(r.errors[0].message.find("duplicate key") != std::string::npos);
}

TEST_CASE("tenants_dir: the tenant files are read from there, relative to the main file or absolute") {
  sekisho::test::TempDir dir;
  const std::string main = (dir.path / "sekisho.yaml").string();
  std::filesystem::create_directories(dir.path / "state" / "tenants");
  std::ofstream((dir.path / "state" / "tenants" / "acme.yaml").string())
      << "tenants:\n  - id: acme\n    networks: [10.0.0.0/8]\n    policy: p\npolicies:\n  p: {block: [adult]}\n";
  // A tenants.d beside the main file is not read once tenants_dir names another directory.
  std::filesystem::create_directory(dir.path / "tenants.d");
  std::ofstream((dir.path / "tenants.d" / "stale.yaml").string()) << "tenants:\n  - id: stale\n    networks: [10.1.0.0/16]\n    policy: q\npolicies:\n  q: {block: [adult]}\n";

  std::ofstream(main) << kMinimal << "tenants_dir: state/tenants/\n";
  LoadResult r = config::load_config_file(main);
  CHECK_MESSAGE(r.errors.empty(), all_errors(r));
  REQUIRE(r.settings.tenants.size() == 1);
  CHECK(r.settings.tenants[0].id == "acme");
  // The writers' directory is the loader's (trailing slash and all).
  CHECK(config::tenants_dir(main) == dir.path / "state" / "tenants");

  std::ofstream(main) << kMinimal << "tenants_dir: " << (dir.path / "state" / "tenants").string() << "\n";
  CHECK(config::tenants_dir(main) == dir.path / "state" / "tenants");
  CHECK(config::load_config_file(main).settings.tenants.size() == 1);

  std::ofstream(main) << kMinimal;
  CHECK(config::tenants_dir(main) == dir.path / "tenants.d");
  r = config::load_config_file(main);
  REQUIRE(r.settings.tenants.size() == 1);
  CHECK(r.settings.tenants[0].id == "stale");
}

TEST_CASE("a duplicate key in the categories file is an error") {
  sekisho::test::TempDir dir;
  const std::string cats = (dir.path / "categories.yaml").string();
  std::ofstream(cats) << "categories:\n  - {id: 40, slug: intranet, group: content, en: Intranet, ja: 社内, en: Internal}\n";
  const std::string main = (dir.path / "sekisho.yaml").string();
  std::ofstream(main) << kMinimal << "categories_file: " << cats << "\n";
  LoadResult r = config::load_config_file(main);
  INFO(all_errors(r));
  bool found = false;
  for (const auto& e : r.errors) found = found || (e.file == cats && e.to_string().find("duplicate key") != std::string::npos);
  CHECK(found);
}

TEST_CASE("load_config_file on a missing file") {
  LoadResult r = config::load_config_file("/nonexistent/sekisho.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].file == "/nonexistent/sekisho.yaml");
  CHECK(r.errors[0].to_string().find("cannot open") != std::string::npos);
}

TEST_CASE("the embedded default config loads") {
  LoadResult r = config::load_config_text(config::embedded_default_config(), "<embedded>");
  // upstreams come from /etc/resolv.conf, which may legitimately be empty in a container.
  for (const auto& e : r.errors) CHECK_MESSAGE(e.path == "upstreams", e.to_string());
  CHECK(r.settings.server.dns_listen.size() == 2);
  CHECK(r.settings.server.threads == 0);
}

}  // TEST_SUITE

TEST_SUITE("admin.config") {

TEST_CASE("an empty port is rejected for IPv6 as it is for IPv4") {
  LoadResult v4 = load("server: {listen: {dns: [\"127.0.0.1:\", \"127.0.0.1:53\"]}}\nupstreams: [127.0.0.1:5399]\n");
  only_error(v4, "server.listen.dns[0]");
  LoadResult v6 = load("server: {listen: {dns: [\"[::1]:\", \"127.0.0.1:53\"]}}\nupstreams: [127.0.0.1:5399]\n");
  INFO(all_errors(v6));
  CHECK(v6.errors.size() == 1);
  if (v6.ok()) CHECK_MESSAGE(false, "\"[::1]:\" was accepted as " << v6.settings.server.dns_listen[0].to_string());
}

}  // TEST_SUITE

TEST_SUITE("admin.config.encrypted") {

TEST_CASE("DoH/DoT listeners, TLS files and the public name") {
  auto full = load(R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
    doh: ["127.0.0.1:8443", "[::1]"]
    dot: ["127.0.0.1:8853"]
  tls: {cert: /tmp/server.pem, key: /tmp/server.key}
  public_name: DNS.Example.NET.
upstreams: [127.0.0.1:5399]
)");
  INFO(all_errors(full));
  REQUIRE(full.errors.empty());
  const auto& s = full.settings.server;
  REQUIRE(s.doh_listen.size() == 2);
  CHECK(addr(s.doh_listen[0]) == "127.0.0.1:8443");
  CHECK(addr(s.doh_listen[1]) == "[::1]:443");
  REQUIRE(s.dot_listen.size() == 1);
  CHECK(addr(s.dot_listen[0]) == "127.0.0.1:8853");
  CHECK(s.tls.cert == "/tmp/server.pem");
  CHECK(s.tls.key == "/tmp/server.key");
  CHECK(s.public_name == "dns.example.net");
}

TEST_CASE("DoH without a certificate is an error at server.tls") {
  auto r = load(R"(server:
  listen: {dns: ["127.0.0.1:5353"], doh: ["127.0.0.1:8443"]}
upstreams: [127.0.0.1:5399]
)");
  only_error(r, "server.tls");
}

TEST_CASE("a bad public name is refused") {
  auto bad = load(R"(server:
  listen: {dns: ["127.0.0.1:5353"]}
  public_name: "dns..example"
upstreams: [127.0.0.1:5399]
)");
  only_error(bad, "server.public_name");
}

TEST_CASE("devices: names, tokens, contact and the max_devices limit") {
  const std::string base = std::string(kMinimal) + R"(policies: {p: {block: []}}
tenants:
  - id: acme
    contact: "IT desk 1234"
    networks: ["10.0.0.0/8"]
    policy: p
)";
  auto ok = load(base + R"(    devices:
      - {name: taro-iphone, token: k7q2m9x4p8}
      - {name: hanako-pixel, token: a1b2c3d4e5}
)");
  INFO(all_errors(ok));
  REQUIRE(ok.errors.empty());
  const auto& t = ok.settings.tenants.at(0);
  CHECK(t.contact == "IT desk 1234");
  REQUIRE(t.devices.size() == 2);
  CHECK(t.devices[1].name == "hanako-pixel");
  CHECK(t.devices[1].token == "a1b2c3d4e5");

  only_error(load(base + "    devices: [{name: x, token: SHORT}]\n"), "tenants[0].devices[0].token");
  only_error(load(base + "    devices: [{name: x}]\n"), "tenants[0].devices[0].token");
  only_error(load(base + "    devices: [{name: x, token: abcdefgh1}, {name: x, token: abcdefgh2}]\n"),
             "tenants[0].devices[1].name");
  only_error(load(base + "    max_devices: 1\n    devices: [{name: x, token: abcdefgh1}, {name: y, token: abcdefgh2}]\n"),
             "tenants[0].devices");
}

}  // TEST_SUITE

TEST_CASE("limits: defaults, values read, per-tenant keys, out-of-range values by path and line") {
  LoadResult defaults = load(kMinimal);
  REQUIRE(defaults.ok());
  const config::LimitSettings& d = defaults.settings.limits;
  CHECK(d.rrl_responses_per_second == 0);
  CHECK(d.rrl_slip == 2);
  CHECK(d.rrl_ipv4_prefix == 24);
  CHECK(d.rrl_ipv6_prefix == 56);
  CHECK(d.tenant_queries_per_second == 0);
  CHECK(d.upstream_queries_per_client == 256);
  CHECK(d.upstream_queries_per_tenant == 2048);
  CHECK(d.unverified_udp_size == 1232);

  LoadResult r = load(std::string(kMinimal) + R"(limits:
  rrl_responses_per_second: 20
  rrl_slip: 0
  rrl_ipv4_prefix: 32
  rrl_ipv6_prefix: 64
  tenant_queries_per_second: 1000
  upstream_queries_per_client: 7
  upstream_queries_per_tenant: 9
  unverified_udp_size: 512
tenants:
  - {id: acme, networks: ["10.0.0.0/8"], policy: p, queries_per_second: 5, rrl_responses_per_second: 6,
     upstream_queries: 7, upstream_queries_per_client: 8, unverified_udp_size: 600}
policies:
  p: {log: none}
)");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const config::LimitSettings& l = r.settings.limits;
  CHECK(l.rrl_responses_per_second == 20);
  CHECK(l.rrl_slip == 0);
  CHECK(l.rrl_ipv4_prefix == 32);
  CHECK(l.rrl_ipv6_prefix == 64);
  CHECK(l.tenant_queries_per_second == 1000);
  CHECK(l.upstream_queries_per_client == 7);
  CHECK(l.upstream_queries_per_tenant == 9);
  CHECK(l.unverified_udp_size == 512);
  const config::TenantSettings& t = r.settings.tenants.at(0);
  CHECK(t.queries_per_second == 5);
  CHECK(t.rrl_responses_per_second == 6);
  CHECK(t.upstream_queries == 7);
  CHECK(t.upstream_queries_per_client == 8);
  CHECK(t.unverified_udp_size == 600);

  for (const auto& bad_case : std::vector<std::pair<std::string, std::string>>{
           {"limits: {rrl_slip: 11}\n", "limits.rrl_slip"},
           {"limits: {unverified_udp_size: 511}\n", "limits.unverified_udp_size"},
           {"limits: {unverified_udp_size: 1233}\n", "limits.unverified_udp_size"},
           {"limits: {rrl_ipv4_prefix: 33}\n", "limits.rrl_ipv4_prefix"}}) {
    // Named members, not a structured binding: clang 14 (the sanitizer trees' compiler) cannot
    // capture a binding in CAPTURE's lambda.
    const std::string& yaml = bad_case.first;
    const std::string& path = bad_case.second;
    CAPTURE(yaml);
    const LoadResult bad = load(std::string(kMinimal) + yaml);
    const ConfigError& e = only_error(bad, path);
    CHECK(e.line == 6);
    CHECK(e.message.find("out of range") != std::string::npos);
  }
  const LoadResult unknown = load(std::string(kMinimal) + "limits: {qps: 5}\n");
  CHECK_FALSE(unknown.ok());
}

TEST_CASE("intercept.limits and a tenant's intercept_bandwidth: read, defaulted, range-checked, unknown keys refused") {
  LoadResult r = load(std::string(kMinimal) +
                      "intercept:\n  status_directory: /run/st\n  limits: {cert_cache_disk_entries: 7, "
                      "cert_cache_disk_bytes: 70000, mints_per_second_per_client: 0, mint_burst_per_client: 3, "
                      "tenant_bytes_per_second: 5000, status_interval_ms: 100}\n"
                      "policies: {p: {}}\n"
                      "tenants:\n  - {id: acme, networks: [10.0.0.0/8], policy: p, intercept_bandwidth: 123456}\n"
                      "  - {id: beta, networks: [10.1.0.0/16], policy: p}\n");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const auto& l = r.settings.intercept.limits;
  CHECK(l.cert_cache_disk_entries == 7);
  CHECK(l.cert_cache_disk_bytes == 70000);
  CHECK(l.mints_per_second_per_client == 0);
  CHECK(l.mint_burst_per_client == 3);
  CHECK(l.tenant_bytes_per_second == 5000);
  CHECK(l.status_interval_ms == 100);
  CHECK(r.settings.intercept.status_directory == "/run/st");
  CHECK(r.settings.tenants[0].intercept_bandwidth == 123456);
  CHECK(r.settings.tenants[1].intercept_bandwidth == 0);

  LoadResult defaults = load(kMinimal);
  REQUIRE(defaults.ok());
  CHECK(defaults.settings.intercept.limits.cert_cache_disk_entries == 20000);
  CHECK(defaults.settings.intercept.limits.mints_per_second_per_client == 2);
  CHECK(defaults.settings.intercept.limits.tenant_bytes_per_second == 0);

  CHECK(only_error(load(std::string(kMinimal) + "intercept: {limits: {cert_cache_disk_bytes: 100}}\n"),
                   "intercept.limits.cert_cache_disk_bytes")
            .message.find("out of range") != std::string::npos);
  only_error(load(std::string(kMinimal) + "intercept: {limits: {mint_rate: 3}}\n"), "intercept.limits.mint_rate");
  only_error(load(std::string(kMinimal) + "policies: {p: {}}\ntenants:\n  - {id: a, networks: [10.0.0.0/8], policy: p, "
                                          "intercept_bandwidth: 2000000000}\n"),
             "tenants[0].intercept_bandwidth");
}

TEST_CASE("risky settings: a plain-HTTP admin API beyond loopback is named, loopback or TLS is not") {
  auto warnings = [](const std::string& admin) {
    LoadResult r = load(std::string("server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [127.0.0.1:53]\n") + admin);
    std::string errors;
    for (const auto& e : r.errors) errors += e.to_string() + "\n";
    INFO(errors);
    REQUIRE(r.errors.empty());
    return config::risky_settings(r.settings);
  };
  const auto open = warnings("admin:\n  listen: [\"0.0.0.0:8080\", \"127.0.0.1:8081\", \"[::ffff:127.0.0.2]:8082\", \"[2001:db8::1]:8083\"]\n");
  REQUIRE(open.size() == 2);
  CHECK(open[0].find("admin.listen 0.0.0.0:8080 serves the admin API over plain HTTP") == 0);
  CHECK(open[1].find("admin.listen [2001:db8::1]:8083 ") == 0);
  CHECK(warnings("admin:\n  listen: [\"127.0.0.1:8080\", \"[::1]:8080\"]\n").empty());
  CHECK(warnings("admin:\n  listen: [\"0.0.0.0:8443\"]\n  tls: {cert: /x.pem, key: /x.key}\n").empty());
}
