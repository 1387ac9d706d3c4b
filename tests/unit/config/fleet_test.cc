// config: the fleet section (issue 20) read through config/schema.h, the snapshot on disk, and
// the fleet's documents read in place of the tenants.d files (config/fleet/). The database
// itself is exercised end to end by tests/e2e/test_fleet.py against a real PostgreSQL.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/fleet/source.h"
#include "config/fleet/state.h"
#include "config/yaml/load.h"

using namespace sekisho;

namespace {

constexpr const char* kBase = R"(server:
  listen:
    dns: ["127.0.0.1:5353"]
upstreams: [127.0.0.1:5399]
)";

config::LoadResult load(const std::string& extra) { return config::load_config_text(std::string(kBase) + extra, "t.yaml"); }

std::string errors(const config::LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/sekisho-fleet-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("fleet: the section's values, defaults and errors") {
  auto r = load("fleet:\n  conninfo: \"host=127.0.0.1 dbname=sekisho\"\n  node: a\n  password_env: PGPASS_X\n");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  CHECK(r.settings.fleet.enabled());
  CHECK(r.settings.fleet.node == "a");
  CHECK(r.settings.fleet.connect_timeout_ms == 3000);
  CHECK(r.settings.fleet.retry_max_ms == 10000);
  CHECK_FALSE(load("").settings.fleet.enabled());

  r = load("fleet:\n  node: a\n");
  CHECK(errors(r).find("fleet.conninfo: fleet needs a conninfo") != std::string::npos);
  r = load("fleet:\n  conninfo: x\n  password_file: /p\n  password_env: P\n");
  CHECK(errors(r).find("fleet.password_env: give the password in password_file or password_env, not both") != std::string::npos);
  r = load("fleet:\n  conninfo: x\n  pasword_file: /p\n");
  CHECK(errors(r).find("pasword_file") != std::string::npos);
  r = load("fleet:\n  conninfo: x\n  retry_max_ms: 10\n");
  CHECK(errors(r).find("fleet.retry_max_ms") != std::string::npos);
}

TEST_CASE("fleet: the password comes from its file or variable, and a missing one is an error") {
  TempDir dir;
  config::FleetSettings s;
  s.conninfo = "x";
  std::string error;
  CHECK(config::fleet::fleet_password(s, error).empty());
  CHECK(error.empty());
  s.password_file = (dir.path / "pw").string();
  CHECK(config::fleet::fleet_password(s, error).empty());
  CHECK(error.find("cannot read fleet.password_file") != std::string::npos);
  std::ofstream(s.password_file) << "s3cret\nignored\n";
  error.clear();
  CHECK(config::fleet::fleet_password(s, error) == "s3cret");
  s.password_file.clear();
  s.password_env = "SEKISHO_FLEET_TEST_UNSET_VARIABLE";
  CHECK(config::fleet::fleet_password(s, error).empty());
  CHECK(error.find("SEKISHO_FLEET_TEST_UNSET_VARIABLE, which is not set") != std::string::npos);
}

TEST_CASE("fleet: the snapshot survives the disk byte for byte, 0600, and a torn one is refused") {
  TempDir dir;
  config::fleet::Snapshot s;
  s.generation = 42;
  s.tenants.push_back({"acme", "tenants:\n  - id: acme\n    networks: [\"10.0.0.0/8\"]\n", 41});
  s.tenants.push_back({"beta", "tenants:\n  - id: beta\n    name: \"ベータ\"\n", 42});
  const std::string path = (dir.path / "state" / "fleet-snapshot.json").string();
  REQUIRE(config::fleet::save_snapshot(path, s).empty());
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  std::string error;
  auto back = config::fleet::load_snapshot(path, error);
  REQUIRE_MESSAGE(back, error);
  CHECK(back->generation == 42);
  REQUIRE(back->tenants.size() == 2);
  CHECK(back->tenants[1].text == s.tenants[1].text);
  CHECK(back->tenants[0].version == 41);

  std::ofstream(path, std::ios::trunc) << "{\"format\": 1, \"generation\": 4";
  CHECK_FALSE(config::fleet::load_snapshot(path, error));
  CHECK(error.find("not a fleet snapshot") != std::string::npos);
  CHECK_FALSE(config::fleet::load_snapshot((dir.path / "none.json").string(), error));
  CHECK(error.find("no snapshot at") != std::string::npos);
}

TEST_CASE("fleet: the documents replace tenants.d, read by the same loader") {
  TempDir dir;
  const std::string main = (dir.path / "sekisho.yaml").string();
  std::ofstream(main) << kBase << "fleet:\n  conninfo: \"host=127.0.0.1\"\n";
  std::filesystem::create_directories(dir.path / "tenants.d");
  std::ofstream(dir.path / "tenants.d" / "local.yaml") << "tenants:\n  - id: local\n    networks: [\"10.9.0.0/16\"]\n";
  config::fleet::Snapshot s;
  s.generation = 3;
  s.tenants.push_back({"acme", "tenants:\n  - id: acme\n    networks: [\"10.1.0.0/16\"]\n    policy: office\n"
                               "policies:\n  office:\n    deny: [bad.example]\n", 3});
  auto state = std::make_shared<config::fleet::FleetState>(config::load_config_file(main).settings.fleet, main);
  state->set_snapshot(std::make_shared<const config::fleet::Snapshot>(s));
  config::fleet::FleetSource source(state);
  auto r = source.read();
  REQUIRE_MESSAGE(r.ok(), errors(r));
  REQUIRE(r.settings.tenants.size() == 1);  // the node's own tenants.d is not read
  CHECK(r.settings.tenants[0].id == "acme");
  CHECK(r.settings.policies.count("office") == 1);

  // A document this node wrote is in place before the database's NOTIFY comes back; an older
  // version never replaces a newer one.
  state->put_local("beta", nullptr, 4);
  const std::string beta = "tenants:\n  - id: beta\n    networks: [\"10.2.0.0/16\"]\n    policy: office\n";
  state->put_local("beta", &beta, 5);
  const std::string stale = "tenants:\n  - id: acme\n    networks: [\"10.3.0.0/16\"]\n";
  state->put_local("acme", &stale, 2);
  r = source.read();
  REQUIRE_MESSAGE(r.ok(), errors(r));
  REQUIRE(r.settings.tenants.size() == 2);
  CHECK(r.settings.tenants[0].networks[0].text == "10.1.0.0/16");
  CHECK(r.settings.tenants[1].id == "beta");

  // A bad document is reported like a bad file, at its line.
  const std::string bad = "tenants:\n  - id: beta\n    networks: [\"10.2.0.0/99\"]\n    policy: office\n";
  state->put_local("beta", &bad, 6);
  r = source.read();
  CHECK_FALSE(r.ok());
  CHECK(errors(r).find("tenants.d/beta.yaml:3") != std::string::npos);
}
