// admin/api: who may call what. Tokens, rate limits, and tenant isolation (404, never a leak).
#include <doctest/doctest.h>

#include "tests/unit/admin/api_fixture.h"

using sekisho::test::ApiFixture;

TEST_CASE("only /healthz answers without a token") {
  ApiFixture f;
  CHECK(f.call("GET", "/healthz", "").status == 200);
  auto r = f.call("GET", "/api/v1/tenants", "");
  CHECK(r.status == 401);
  CHECK(ApiFixture::header(r, "www-authenticate") == "Bearer");
  CHECK(ApiFixture::json_of(r)["error"].get<std::string>().find("Bearer") != std::string::npos);
  CHECK(f.call("GET", "/api/v1/tenants", "sk_wrong").status == 401);
  CHECK(f.call("GET", "/api/v1/tenants", f.operator_token).status == 200);
}

TEST_CASE("the configured digest is of the token, and only the exact token matches") {
  ApiFixture f;
  CHECK(f.call("GET", "/api/v1/me", f.operator_token + "x").status == 401);
  CHECK(f.call("GET", "/api/v1/me", f.operator_token.substr(1)).status == 401);
  auto me = ApiFixture::json_of(f.call("GET", "/api/v1/me", f.acme_token));
  CHECK(me["name"] == "acme-admin");
  CHECK(me["role"] == "tenant-admin");
  CHECK(me["tenant"] == "acme");
}

TEST_CASE("wrong tokens are limited per source address; a valid token always works") {
  ApiFixture f;
  for (int i = 0; i < 10; ++i) CHECK(f.call("GET", "/api/v1/me", "sk_guess" + std::to_string(i), "", "198.51.100.1").status == 401);
  auto limited = f.call("GET", "/api/v1/me", "sk_guess", "", "198.51.100.1");
  CHECK(limited.status == 429);
  CHECK(std::stoi(ApiFixture::header(limited, "retry-after")) > 0);
  // The operator sharing that address (or one spoofed by a page it visits) is not locked out.
  CHECK(f.call("GET", "/api/v1/me", f.operator_token, "", "198.51.100.1").status == 200);
  CHECK(f.call("GET", "/api/v1/me", "sk_guess_again", "", "198.51.100.1").status == 429);  // still limited
  CHECK(f.call("GET", "/api/v1/me", "sk_guess", "", "198.51.100.2").status == 401);  // other sources are not
  f.now += 61;  // the window passes
  CHECK(f.call("GET", "/api/v1/me", "sk_guess", "", "198.51.100.1").status == 401);
}

TEST_CASE("requests without a token lock no one out") {
  ApiFixture f;
  // A web page can make a browser send these to the admin address as often as it likes.
  for (int i = 0; i < 50; ++i) CHECK(f.call("GET", "/api/v1/me", "", "", "198.51.100.1").status == 401);
  CHECK(f.call("GET", "/api/v1/me", "sk_guess", "", "198.51.100.1").status == 401);  // not 429: nothing counted
  CHECK(f.call("GET", "/api/v1/me", f.operator_token, "", "198.51.100.1").status == 200);
}

TEST_CASE("a tenant-admin sees only its tenant; every other tenant is 404") {
  ApiFixture f;
  auto list = ApiFixture::json_of(f.call("GET", "/api/v1/tenants", f.acme_token));
  REQUIRE(list["tenants"].size() == 1);
  CHECK(list["tenants"][0]["id"] == "acme");
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/tenants", f.operator_token))["tenants"].size() == 3);

  for (const char* path : {"/api/v1/tenants/beta", "/api/v1/tenants/beta/policy", "/api/v1/tenants/beta/devices",
                           "/api/v1/tenants/legacy", "/api/v1/tenants/nosuch"}) {
    INFO(path);
    auto r = f.call("GET", path, f.acme_token);
    CHECK(r.status == 404);
  }
  // The same answer whether or not the tenant exists: no way to probe for ids.
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/tenants/beta", f.acme_token))["error"] == "no tenant 'beta'");
  CHECK(ApiFixture::json_of(f.call("GET", "/api/v1/tenants/nosuch", f.acme_token))["error"] == "no tenant 'nosuch'");
  CHECK(f.call("PUT", "/api/v1/tenants/beta/policy", f.acme_token, R"({"deny":["x.example"]})").status == 404);
  CHECK(f.call("POST", "/api/v1/tenants/beta/devices", f.acme_token, R"({"name":"phone"})").status == 404);
  CHECK(f.call("GET", "/api/v1/check?tenant=beta&name=a.example", f.acme_token).status == 404);
  CHECK(f.call("GET", "/api/v1/stats?tenant=beta", f.acme_token).status == 404);
  CHECK(f.call("GET", "/api/v1/querylog?tenant=beta", f.acme_token).status == 404);
  CHECK(f.call("POST", "/api/v1/reload", f.acme_token).status == 403);
  CHECK(f.call("GET", "/api/v1/store", f.acme_token).status == 403);
  CHECK(f.call("POST", "/api/v1/tenants", f.acme_token, R"({"id":"gamma"})").status == 403);
  // beta's file is untouched by all of that.
  CHECK(sekisho::test::read_text(f.dir / "tenants.d" / "beta.yaml").find("x.example") == std::string::npos);
  CHECK(f.reloads == 0);
}

TEST_CASE("a tenant-admin sees its own policy but not which other tenants share it") {
  ApiFixture f;
  auto p = ApiFixture::json_of(f.call("GET", "/api/v1/policies", f.beta_token));
  REQUIRE(p["policies"].size() == 1);
  CHECK(p["policies"][0]["name"] == "shared");
  CHECK(p["policies"][0]["tenants"] == nlohmann::json::array({"beta"}));
  auto all = ApiFixture::json_of(f.call("GET", "/api/v1/policies", f.operator_token));
  CHECK(all["policies"].size() == 2);
}
