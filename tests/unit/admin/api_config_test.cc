// config/yaml/load: the admin: section (listen, tls, tokens stored as SHA-256, audit_log).
#include <doctest/doctest.h>

#include "admin/api/token.h"
#include "config/yaml/load.h"
#include "tests/unit/admin/api_fixture.h"

using namespace sekisho;

namespace {

const std::string kBase = "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n";
const std::string kDigest = admin::sha256_hex("sk_example");

std::string errors_of(const std::string& admin_yaml) {
  auto r = config::load_config_text(kBase + admin_yaml, "t.yaml");
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("admin section: listen with the default port, tls pair, tokens") {
  auto r = config::load_config_text(kBase + "admin:\n  listen: [\"127.0.0.1\"]\n  metrics_listen: [\"127.0.0.1:9999\"]\n"
                                             "  audit_log: /tmp/a.jsonl\n  tokens:\n    - {name: root, role: operator, sha256: " +
                                        kDigest + "}\n",
                                    "t.yaml");
  REQUIRE(r.ok());
  REQUIRE(r.settings.admin.listen.size() == 1);
  CHECK(r.settings.admin.listen[0].port() == 8081);
  CHECK(r.settings.admin.metrics_listen[0].port() == 9999);
  CHECK(r.settings.admin.audit_log == "/tmp/a.jsonl");
  REQUIRE(r.settings.admin.tokens.size() == 1);
  CHECK(r.settings.admin.tokens[0].sha256 == kDigest);
  CHECK(r.settings.admin.tokens[0].role == config::AdminRole::operator_role);
}

TEST_CASE("admin tokens: every mistake is reported at its key") {
  CHECK(errors_of("admin:\n  tokens:\n    - {name: a, role: root, sha256: " + kDigest + "}\n").find("admin.tokens[0].role: 'root' is not a role") !=
        std::string::npos);
  CHECK(errors_of("admin:\n  tokens:\n    - {name: a, role: operator, tenant: x, sha256: " + kDigest + "}\n")
            .find("admin.tokens[0].tenant: an operator token covers every tenant") != std::string::npos);
  CHECK(errors_of("admin:\n  tokens:\n    - {name: a, role: tenant-admin, sha256: " + kDigest + "}\n")
            .find("admin.tokens[0].tenant: a tenant-admin token needs") != std::string::npos);
  CHECK(errors_of("admin:\n  tokens:\n    - {name: a, role: operator, sha256: sk_example}\n")
            .find("admin.tokens[0].sha256: expected 64 hex digits") != std::string::npos);
  CHECK(errors_of("admin:\n  tokens:\n    - {name: a, role: operator, sha256: " + kDigest + "}\n    - {name: a, role: operator, sha256: " +
                  kDigest + "}\n")
            .find("admin.tokens[1].name: token name 'a' is used twice") != std::string::npos);
  CHECK(errors_of("admin:\n  tls: {cert: /x.pem}\n").find("admin.tls: give both cert and key") != std::string::npos);
  CHECK(errors_of("admin:\n  listn: []\n").find("admin.listn: unknown key") != std::string::npos);
}

TEST_CASE("a tenant-admin token must name a tenant that exists (tenants.d included)") {
  char tmpl[] = "/tmp/sekisho-admincfg-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  test::write_text(dir / "main.yaml", kBase + "admin:\n  tokens:\n    - {name: a, role: tenant-admin, tenant: acme, sha256: " + kDigest +
                                          "}\n    - {name: b, role: tenant-admin, tenant: ghost, sha256: " + admin::sha256_hex("sk_b") + "}\n");
  test::write_text(dir / "tenants.d" / "acme.yaml", "tenants:\n  - id: acme\n    policy: p\npolicies:\n  p: {}\n");
  auto r = config::load_config_file((dir / "main.yaml").string());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == "admin.tokens[1].tenant");
  CHECK(r.errors[0].message == "unknown tenant 'ghost'");
  CHECK(r.errors[0].line == 8);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tokens: random, hashed, compared whole") {
  const std::string a = admin::new_token(), b = admin::new_token();
  CHECK(a != b);
  CHECK(a.size() == 46);
  CHECK(admin::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2 example
  CHECK(admin::constant_time_equal("abc", "abc"));
  CHECK(!admin::constant_time_equal("abc", "abd"));
  CHECK(!admin::constant_time_equal("abc", "abcd"));
}
