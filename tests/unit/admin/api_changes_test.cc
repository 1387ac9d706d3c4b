// admin/api: changes are validated like check-config, written to tenants.d/<id>.yaml, reloaded,
// audited, and refused whole (nothing half-applied) on any error.
#include <doctest/doctest.h>

#include "admin/api/api_internal.h"
#include "policy/decide.h"
#include "tests/unit/admin/api_fixture.h"

using nlohmann::json;
using sekisho::test::ApiFixture;
using sekisho::test::read_text;

namespace {

std::vector<json> audit_lines(const ApiFixture& f) {
  std::vector<json> out;
  std::istringstream in(read_text(f.dir / "audit.jsonl"));
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("PUT policy: written to the tenant's file, reloaded, decided by the DNS path, audited") {
  ApiFixture f;
  auto before = f.call("GET", "/api/v1/tenants/acme/policy", f.acme_token);
  REQUIRE(before.status == 200);
  const std::string etag = ApiFixture::header(before, "etag");
  CHECK(etag.size() == 66);
  auto r = f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token,
                  R"({"block":["gambling"],"deny":["casino.example"],"action":"nxdomain",
                      "schedule":[{"block":["social"],"days":["mon","fri"],"from":"09:00","to":"18:00","timezone":"Asia/Tokyo"}]})",
                  "192.0.2.7", etag);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(ApiFixture::header(r, "etag") != etag);
  const std::string yaml = read_text(f.dir / "tenants.d" / "acme.yaml");
  CHECK(yaml.find("casino.example") != std::string::npos);
  CHECK(yaml.find("acme-deny.example") == std::string::npos);  // a PUT replaces the policy
  CHECK(f.reloads == 1);
  // The check endpoint decides with the reloaded snapshot, as a query would now.
  auto check = ApiFixture::json_of(f.call("GET", "/api/v1/check?tenant=acme&name=www.casino.example", f.acme_token));
  CHECK(check["verdict"] == "block");
  CHECK(check["rule"] == "deny_list");
  CHECK(check["list_entry"] == "casino.example");
  CHECK(check["action"] == "nxdomain");
  CHECK(check["detail"] == "list=deny rule=casino.example tenant=acme");
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/check?tenant=acme&name=acme-deny.example", f.acme_token))["verdict"] ==
        "resolve");
  auto got = ApiFixture::json_of(f.call("GET", "/api/v1/tenants/acme/policy", f.acme_token));
  CHECK(got["schedule"][0]["days"] == json::array({"mon", "fri"}));
  CHECK(got["schedule"][0]["timezone"] == "Asia/Tokyo");

  auto audit = audit_lines(f);
  REQUIRE(audit.size() == 1);
  CHECK(audit[0]["who"] == "acme-admin");
  CHECK(audit[0]["what"] == "set policy");
  CHECK(audit[0]["tenant"] == "acme");
  CHECK(audit[0]["source"] == "192.0.2.7");
  CHECK(audit[0]["before"]["deny"] == json::array({"acme-deny.example"}));
  CHECK(audit[0]["after"]["deny"] == json::array({"casino.example"}));
  CHECK(audit[0]["outcome"] == "ok");
}

TEST_CASE("a stale If-Match is refused with 412 and the file is not touched") {
  ApiFixture f;
  const std::string etag = ApiFixture::header(f.call("GET", "/api/v1/tenants/acme", f.acme_token), "etag");
  REQUIRE(f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"deny":["one.example"]})", "192.0.2.7", etag).status == 200);
  const std::string on_disk = read_text(f.dir / "tenants.d" / "acme.yaml");
  auto r = f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"deny":["two.example"]})", "192.0.2.7", etag);
  CHECK(r.status == 412);
  CHECK(read_text(f.dir / "tenants.d" / "acme.yaml") == on_disk);
  CHECK(audit_lines(f).size() == 1);
}

TEST_CASE("bad bodies are 4xx naming the field; nothing is written") {
  ApiFixture f;
  const std::string on_disk = read_text(f.dir / "tenants.d" / "acme.yaml");
  struct Case {
    const char* body;
    int status;
    const char* field;
  } cases[] = {
      {R"({"deny": ["x.example"])", 400, ""},                          // malformed JSON
      {R"(["x"])", 400, ""},                                           // not an object
      {R"({"denny": ["x.example"]})", 400, "denny"},                   // unknown field
      {R"({"deny": "x.example"})", 400, "deny"},                       // wrong type
      {R"({"deny": [1]})", 400, "deny[0]"},
      {R"({"safe_search": "yes"})", 400, "safe_search"},
      {R"({"action": "drop"})", 400, "action"},
      {R"({"schedule": [{"block": ["social"], "from": "9am"}]})", 400, "schedule[0].from"},
      {R"({"schedule": [{"block": ["social"], "colour": "red"}]})", 400, "schedule[0].colour"},
      {R"({"block": ["gambling", "no-such-category"]})", 422, "block"},  // found by compile_policies
      {R"({"deny": ["bad..name"]})", 422, "deny[0]"},
      {R"({"schedule": [{"block": ["social"], "timezone": "Mars/Olympus"}]})", 422, "schedule[0].timezone"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    auto r = f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, c.body);
    INFO(r.body);
    CHECK(r.status == c.status);
    auto j = ApiFixture::json_of(r);
    CHECK(j["field"] == c.field);
    CHECK(!j["error"].get<std::string>().empty());
  }
  CHECK(f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, std::string(70000, ' ')).status == 413);
  CHECK(read_text(f.dir / "tenants.d" / "acme.yaml") == on_disk);
  CHECK(f.reloads == 0);
}

// Tenant admins must not learn where the server keeps its files: 412 and 422 bodies (and the
// others a write can give) name the configuration's files relative to its directory.
TEST_CASE("error bodies a tenant admin gets name no server file paths") {
  ApiFixture f;
  const std::string server_dir = f.dir.string();
  std::vector<std::pair<std::string, sekisho::net::http::Response>> answers;
  const std::string etag = ApiFixture::header(f.call("GET", "/api/v1/tenants/acme", f.acme_token), "etag");
  answers.emplace_back("GET tenant", f.call("GET", "/api/v1/tenants/acme", f.acme_token));
  REQUIRE(f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"deny":["one.example"]})", "192.0.2.7", etag).status == 200);
  answers.emplace_back("412", f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"deny":["two.example"]})",
                                     "192.0.2.7", etag));
  answers.emplace_back("422 block", f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"block":["no-such-category"]})"));
  answers.emplace_back("422 deny", f.call("PUT", "/api/v1/tenants/acme/policy", f.acme_token, R"({"deny":["bad..name"]})"));
  answers.emplace_back("422 network", f.call("PATCH", "/api/v1/tenants/acme", f.operator_token, R"({"networks":["10.2.0.0/16"]})"));
  answers.emplace_back("409 main file", f.call("PUT", "/api/v1/tenants/legacy/policy", f.operator_token, R"({"deny":["x.example"]})"));
  CHECK(answers[1].second.status == 412);
  CHECK(answers[2].second.status == 422);
  CHECK(answers[3].second.status == 422);
  CHECK(answers[4].second.status == 422);
  CHECK(answers[5].second.status == 409);
  for (const auto& answer : answers) {
    INFO(answer.first << ": " << answer.second.body);
    CHECK(answer.second.body.find(server_dir) == std::string::npos);
    CHECK(answer.second.body.find("/tmp") == std::string::npos);
  }
  // Still says which file, relative to the configuration's directory.
  CHECK(ApiFixture::json_of(answers[0].second)["file"] == "tenants.d/acme.yaml");
  CHECK(ApiFixture::json_of(answers[1].second)["error"].get<std::string>().find("tenants.d/acme.yaml changed since") == 0);
  const auto j = ApiFixture::json_of(answers[3].second);
  CHECK(j["errors"][0]["where"].get<std::string>().rfind("tenants.d/acme.yaml:", 0) == 0);
  CHECK(ApiFixture::json_of(answers[5].second)["error"].get<std::string>().find("defined in sekisho.yaml,") != std::string::npos);
}

TEST_CASE("without_server_paths: config-relative names, other paths cut to their last part") {
  const std::string conf = "/etc/sekisho/sekisho.yaml";
  CHECK(sekisho::admin::without_server_paths("/etc/sekisho/tenants.d/acme.yaml:3:5: deny[0]: bad", conf) == "tenants.d/acme.yaml:3:5: deny[0]: bad");
  CHECK(sekisho::admin::without_server_paths("tenant 'x' is defined in /etc/sekisho/sekisho.yaml:12", conf) ==
        "tenant 'x' is defined in sekisho.yaml:12");
  CHECK(sekisho::admin::without_server_paths("cannot read /var/lib/x/cats.yaml: Permission denied", conf) ==
        "cannot read cats.yaml: Permission denied");
  CHECK(sekisho::admin::without_server_paths("(/srv/a/b.yaml has errors)", conf) == "(b.yaml has errors)");
  CHECK(sekisho::admin::without_server_paths("block/allow lists, a/b and / stay", conf) == "block/allow lists, a/b and / stay");
}

TEST_CASE("a shared policy is never changed by one tenant: the tenant gets its own copy") {
  ApiFixture f;
  auto r = f.call("PUT", "/api/v1/tenants/beta/policy", f.beta_token, R"({"deny":["beta-only.example"]})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(ApiFixture::json_of(r)["forked_from"] == "shared");
  CHECK(ApiFixture::json_of(r)["name"] == "beta");
  // legacy (main file) still uses the untouched shared policy.
  auto legacy = ApiFixture::json_of(f.call("GET", "/api/v1/check?tenant=legacy&name=shared-deny.example", f.operator_token));
  CHECK(legacy["verdict"] == "block");
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/check?tenant=legacy&name=beta-only.example", f.operator_token))["verdict"] ==
        "resolve");
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/check?tenant=beta&name=beta-only.example", f.beta_token))["verdict"] ==
        "block");
  CHECK(read_text(f.dir / "sekisho.yaml").find("beta-only") == std::string::npos);
}

TEST_CASE("tenants defined in the main file are read-only through the API") {
  ApiFixture f;
  auto t = ApiFixture::json_of(f.call("GET", "/api/v1/tenants/legacy", f.operator_token));
  CHECK(t["managed"] == false);
  auto r = f.call("PUT", "/api/v1/tenants/legacy/policy", f.operator_token, R"({"deny":["x.example"]})");
  CHECK(r.status == 409);
  CHECK(ApiFixture::json_of(r)["error"].get<std::string>().find("tenants.d/legacy.yaml") != std::string::npos);
  CHECK(f.call("POST", "/api/v1/tenants/legacy/devices", f.operator_token, R"({"name":"pc"})").status == 409);
}

TEST_CASE("devices: created with a token within max_devices, listed, revoked") {
  ApiFixture f;
  auto a = f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"name":"phone"})");
  INFO(a.body);
  REQUIRE(a.status == 201);
  const std::string token = ApiFixture::json_of(a)["token"];
  CHECK(token.size() == 20);
  CHECK(f.current.policies->find_device(token) != nullptr);  // live after the reload
  CHECK(ApiFixture::json_of(a)["dot_hostname"] == token + ".dns.test");
  auto profile = f.call("GET", "/api/v1/tenants/acme/devices/phone/profile", f.acme_token);
  CHECK(profile.status == 200);
  CHECK(ApiFixture::header(profile, "content-type") == "application/x-apple-aspen-config");
  CHECK(profile.body.find("https://dns.test/dns-query/" + token) != std::string::npos);
  CHECK(f.call("GET", "/api/v1/tenants/acme/devices/nosuch/profile", f.acme_token).status == 404);
  CHECK(f.call("GET", "/api/v1/tenants/acme/devices/phone/profile", f.beta_token).status == 404);
  CHECK(f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"name":"phone"})").status == 409);
  REQUIRE(f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"name":"laptop"})").status == 201);
  auto over = f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"name":"tablet"})");
  CHECK(over.status == 409);
  CHECK(ApiFixture::json_of(over)["error"].get<std::string>().find("max_devices") != std::string::npos);
  auto list = ApiFixture::json_of(f.call("GET", "/api/v1/tenants/acme/devices", f.acme_token));
  CHECK(list["devices"].size() == 2);
  CHECK(f.call("DELETE", "/api/v1/tenants/acme/devices/phone", f.acme_token).status == 204);
  CHECK(f.current.policies->find_device(token) == nullptr);
  CHECK(f.call("DELETE", "/api/v1/tenants/acme/devices/phone", f.acme_token).status == 404);
  CHECK(f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"name":"tablet"})").status == 201);
  CHECK(f.call("POST", "/api/v1/tenants/acme/devices", f.acme_token, R"({"nom":"x"})").status == 400);
  auto audit = audit_lines(f);
  REQUIRE(audit.size() == 4);
  CHECK(audit[2]["what"] == "revoke device");
  CHECK(audit[2]["before"]["name"] == "phone");
}

TEST_CASE("operators create and remove tenants in their own files") {
  ApiFixture f;
  auto r = f.call("POST", "/api/v1/tenants", f.operator_token,
                  R"({"id":"gamma","name":"Gamma 株式会社","networks":["10.3.0.0/16"],"max_devices":5})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  CHECK(std::filesystem::exists(f.dir / "tenants.d" / "gamma.yaml"));
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/tenants/gamma", f.operator_token))["name"] == "Gamma 株式会社");
  CHECK(f.call("POST", "/api/v1/tenants", f.operator_token, R"({"id":"gamma"})").status == 409);
  auto overlap = f.call("POST", "/api/v1/tenants", f.operator_token, R"({"id":"delta","networks":["10.3.0.0/16"]})");
  CHECK(overlap.status == 422);
  CHECK(ApiFixture::json_of(overlap)["field"] == "networks[0]");
  CHECK(!std::filesystem::exists(f.dir / "tenants.d" / "delta.yaml"));
  CHECK(f.call("DELETE", "/api/v1/tenants/gamma", f.operator_token).status == 204);
  CHECK(!std::filesystem::exists(f.dir / "tenants.d" / "gamma.yaml"));
  CHECK(f.call("GET", "/api/v1/tenants/gamma", f.operator_token).status == 404);
}

TEST_CASE("reload reports the errors of an invalid file and keeps the running configuration") {
  ApiFixture f;
  sekisho::test::write_text(f.dir / "tenants.d" / "acme.yaml", "tenants:\n  - id: acme\n    policy: nosuch\n");
  auto r = f.call("POST", "/api/v1/reload", f.operator_token);
  CHECK(r.status == 422);
  CHECK(ApiFixture::json_of(r)["errors"][0]["message"].get<std::string>().find("nosuch") != std::string::npos);
  CHECK(f.reloads == 0);
  // A refused reload is audited too: who asked, and why nothing changed.
  auto audit = audit_lines(f);
  REQUIRE(audit.size() == 1);
  CHECK(audit[0]["what"] == "reload");
  CHECK(audit[0]["who"] == "root");
  CHECK(audit[0]["after"].is_null());
  CHECK(audit[0]["outcome"].get<std::string>().rfind("refused: the configuration has 1 error", 0) == 0);
}

TEST_CASE("PATCH tenant: operators change networks and max_devices, tenant-admins only name and contact") {
  ApiFixture f;
  auto bad = f.call("PATCH", "/api/v1/tenants/acme", f.acme_token, R"({"max_devices": 100})");
  CHECK(bad.status == 400);
  CHECK(ApiFixture::json_of(bad)["field"] == "max_devices");
  auto own = f.call("PATCH", "/api/v1/tenants/acme", f.acme_token, R"({"contact": "内線 1234"})");
  INFO(own.body);
  REQUIRE(own.status == 200);
  CHECK(ApiFixture::json_of(own)["contact"] == "内線 1234");
  auto op = f.call("PATCH", "/api/v1/tenants/acme", f.operator_token, R"({"max_devices": 3, "networks": ["10.1.0.0/16", "10.5.0.0/16"]})");
  REQUIRE(op.status == 200);
  CHECK(f.current.settings.tenants.size() == 3);
  for (const auto& t : f.current.settings.tenants)
    if (t.id == "acme") {
      CHECK(t.max_devices == 3);
      CHECK(t.networks.size() == 2);
      CHECK(t.contact == "内線 1234");  // untouched by the operator's PATCH
    }
  auto overlap = f.call("PATCH", "/api/v1/tenants/acme", f.operator_token, R"({"networks": ["10.2.0.0/16"]})");
  CHECK(overlap.status == 422);  // beta's network
  CHECK(f.call("PATCH", "/api/v1/tenants/beta", f.acme_token, R"({"contact": "x"})").status == 404);
  auto audit = audit_lines(f);
  REQUIRE(audit.size() == 2);
  CHECK(audit[1]["before"]["max_devices"] == 2);
  CHECK(audit[1]["after"]["max_devices"] == 3);
}
