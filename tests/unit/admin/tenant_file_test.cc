// admin/tenant_files/tenant_file: tenants.d/<id>.yaml rendered, validated and written so the real
// loader reads back the same settings; atomic replacement; ETag conflicts; the main-file rule.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/yaml/load.h"
#include "admin/tenant_files/tenant_file.h"
#include "tests/unit/admin/same_settings.h"

using namespace sekisho;
using config::TenantFileStatus;
using test::check_same_policy;
using test::check_same_tenant;

namespace {

namespace fs = std::filesystem;

struct ConfigDir {
  std::string dir;
  std::string main;
  ConfigDir() {
    char tmpl[] = "/tmp/sekisho-tenant-file-XXXXXX";
    dir = mkdtemp(tmpl);
    main = dir + "/sekisho.yaml";
  }
  ~ConfigDir() { fs::remove_all(dir); }
  void write_main(const std::string& extra = "") const {
    std::ofstream(main) << "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n"
                        << "policies:\n  shared:\n    block: [malware]\n"
                        << extra;
  }
  std::string tenants_d() const { return dir + "/tenants.d"; }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

std::string errors_of(const config::TenantFileResult& r) {
  std::string out = r.message + "\n";
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("tenant file: written settings load back identically through load_config_file") {
  ConfigDir d;
  d.write_main();
  const auto content = test::rich_tenant_file();
  auto w = config::write_tenant_file(d.main, content, "");
  INFO(errors_of(w));
  REQUIRE(w.ok());
  CHECK(w.path == d.tenants_d() + "/acme.yaml");

  auto loaded = config::load_config_file(d.main);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.settings.tenants.size() == 1);
  check_same_tenant(loaded.settings.tenants[0], content.tenant);
  CHECK(loaded.settings.tenants[0].mark.file == w.path);
  REQUIRE(loaded.settings.policies.count("office") == 1);
  check_same_policy(loaded.settings.policies.at("office"), content.policies[0]);
  check_same_policy(loaded.settings.policies.at("kids"), content.policies[1]);

  // Rendering what was read gives the same bytes: no drift on repeated edits.
  auto r = config::read_tenant_file(d.main, "acme");
  REQUIRE(r.ok());
  CHECK(config::render_tenant_file(r.content) == slurp(w.path));
  CHECK(slurp(w.path).find("ACME 株式会社") != std::string::npos);  // UTF-8 kept, not escaped
  CHECK(r.content.policies.size() == 2);  // "shared" is in the main file, not this one
}

TEST_CASE("tenant file: ETag is the SHA-256 of the bytes and guards writes") {
  ConfigDir d;
  d.write_main();
  CHECK(config::tenant_file_etag("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  auto content = test::rich_tenant_file();
  auto created = config::write_tenant_file(d.main, content, "");
  REQUIRE(created.ok());
  auto read = config::read_tenant_file(d.main, "acme");
  REQUIRE(read.ok());
  CHECK(read.etag == created.etag);
  CHECK(read.etag == config::tenant_file_etag(slurp(read.path)));

  SUBCASE("creating over an existing file conflicts") {
    auto again = config::write_tenant_file(d.main, content, "");
    CHECK(again.status == TenantFileStatus::conflict);
  }
  SUBCASE("a write based on an old read conflicts and changes nothing") {
    auto first = read.content;
    first.tenant.contact = "first writer";
    auto w1 = config::write_tenant_file(d.main, first, read.etag);
    REQUIRE(w1.ok());
    CHECK(w1.etag != read.etag);
    const std::string after_first = slurp(read.path);
    auto second = read.content;
    second.tenant.contact = "second writer";
    auto w2 = config::write_tenant_file(d.main, second, read.etag);
    CHECK(w2.status == TenantFileStatus::conflict);
    CHECK(w2.message.find("ETag") != std::string::npos);
    CHECK(slurp(read.path) == after_first);
    auto w3 = config::write_tenant_file(d.main, second, w1.etag);
    CHECK(w3.ok());
  }
  SUBCASE("no expected ETag: last writer wins") {
    content.tenant.contact = "unconditional";
    CHECK(config::write_tenant_file(d.main, content, std::nullopt).ok());
    CHECK(config::read_tenant_file(d.main, "acme").content.tenant.contact == "unconditional");
  }
}

TEST_CASE("tenant file: an invalid change is refused with the loader's errors and the file is untouched") {
  ConfigDir d;
  d.write_main();
  auto created = config::write_tenant_file(d.main, test::rich_tenant_file(), "");
  REQUIRE(created.ok());
  const std::string before = slurp(created.path);
  ::chmod(created.path.c_str(), 0604);

  auto bad = test::rich_tenant_file();
  bad.policies[0].block.push_back("no-such-category");
  bad.tenant.devices.push_back({"x", "short", {}});
  auto w = config::write_tenant_file(d.main, bad, created.etag);
  CHECK(w.status == TenantFileStatus::invalid);
  CHECK(w.errors.size() == 2);
  CHECK(errors_of(w).find("unknown category 'no-such-category'") != std::string::npos);
  CHECK(errors_of(w).find("a token is 8 to 32 characters") != std::string::npos);
  CHECK(slurp(created.path) == before);

  // A good write replaces the file, keeps its mode and leaves no temporary file behind.
  auto good = test::rich_tenant_file();
  good.tenant.max_devices = 9;
  REQUIRE(config::write_tenant_file(d.main, good, created.etag).ok());
  struct stat st {};
  REQUIRE(::stat(created.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0604);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(d.tenants_d())) {
    ++entries;
    CHECK(e.path().filename() == "acme.yaml");
  }
  CHECK(entries == 1);
}

TEST_CASE("tenant file: a new file takes the main file's mode, since it holds device tokens") {
  ConfigDir d;
  d.write_main();
  ::chmod(d.main.c_str(), 0640);
  auto w = config::write_tenant_file(d.main, test::rich_tenant_file(), "");
  REQUIRE(w.ok());
  struct stat st {};
  REQUIRE(::stat(w.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
}

TEST_CASE("tenant file: tenants defined outside tenants.d/<id>.yaml are read but never rewritten") {
  ConfigDir d;
  d.write_main("tenants:\n  - id: mainco\n    policy: shared\n");
  auto r = config::read_tenant_file(d.main, "mainco");
  REQUIRE(r.ok());
  CHECK(r.path == d.main);
  CHECK(r.etag.empty());

  config::TenantFileContent c;
  c.tenant = r.content.tenant;
  c.tenant.max_devices = 3;
  auto w = config::write_tenant_file(d.main, c, std::nullopt);
  CHECK(w.status == TenantFileStatus::not_managed);
  CHECK(w.message.find(d.main + ":9") != std::string::npos);
  CHECK_FALSE(fs::exists(d.tenants_d() + "/mainco.yaml"));

  // A file shared by two tenants would lose the other one.
  fs::create_directories(d.tenants_d());
  std::ofstream(d.tenants_d() + "/two.yaml") << "tenants:\n  - id: two\n    policy: shared\n  - id: other\n    policy: shared\n";
  auto two = config::read_tenant_file(d.main, "two");
  REQUIRE(two.ok());
  CHECK(two.etag.empty());
  c.tenant.id = "two";
  auto w2 = config::write_tenant_file(d.main, c, std::nullopt);
  CHECK(w2.status == TenantFileStatus::not_managed);
  CHECK(w2.message.find("also defines tenant 'other'") != std::string::npos);
}

TEST_CASE("tenant file: ids that are not file names, missing tenants, removal") {
  ConfigDir d;
  d.write_main();
  config::TenantFileContent c;
  c.tenant.id = "../escape";
  c.tenant.policy = "shared";
  CHECK(config::write_tenant_file(d.main, c, std::nullopt).status == TenantFileStatus::invalid);
  CHECK_FALSE(fs::exists(d.dir + "/escape.yaml"));
  CHECK(config::read_tenant_file(d.main, "nobody").status == TenantFileStatus::not_found);

  REQUIRE(config::write_tenant_file(d.main, test::rich_tenant_file(), "").ok());
  config::TenantFileContent user;
  user.tenant.id = "user";
  user.tenant.policy = "kids";  // defined in acme.yaml
  auto wu = config::write_tenant_file(d.main, user, "");
  INFO(errors_of(wu));
  REQUIRE(wu.ok());

  auto rm = config::remove_tenant_file(d.main, "acme", std::nullopt);
  CHECK(rm.status == TenantFileStatus::invalid);
  CHECK(errors_of(rm).find("unknown policy 'kids'") != std::string::npos);
  CHECK(fs::exists(d.tenants_d() + "/acme.yaml"));

  CHECK(config::remove_tenant_file(d.main, "user", "0000").status == TenantFileStatus::conflict);
  CHECK(config::remove_tenant_file(d.main, "user", wu.etag).ok());
  CHECK_FALSE(fs::exists(d.tenants_d() + "/user.yaml"));
  CHECK(config::remove_tenant_file(d.main, "user", std::nullopt).status == TenantFileStatus::not_found);
}

TEST_CASE("tenant file: concurrent writers from the same read: exactly one wins, the rest conflict") {
  ConfigDir d;
  d.write_main();
  auto created = config::write_tenant_file(d.main, test::rich_tenant_file(), "");
  REQUIRE(created.ok());
  constexpr int kWriters = 6;
  std::vector<config::TenantFileResult> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i)
    threads.emplace_back([&, i] {
      auto c = test::rich_tenant_file();
      c.tenant.contact = "writer " + std::to_string(i);
      results[i] = config::write_tenant_file(d.main, c, created.etag);
    });
  for (auto& t : threads) t.join();
  int won = -1, conflicts = 0;
  for (int i = 0; i < kWriters; ++i) {
    if (results[i].ok()) {
      CHECK(won == -1);
      won = i;
    } else {
      CHECK(results[i].status == TenantFileStatus::conflict);
      ++conflicts;
    }
  }
  REQUIRE(won >= 0);
  CHECK(conflicts == kWriters - 1);
  auto now = config::read_tenant_file(d.main, "acme");
  CHECK(now.content.tenant.contact == "writer " + std::to_string(won));
  CHECK(now.etag == results[won].etag);
}
