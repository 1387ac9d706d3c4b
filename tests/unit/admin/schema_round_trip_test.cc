// One schema (config/schema.h): the YAML reader, the YAML writer and the admin API's JSON
// reader and writer walk the same field descriptions, so a tenant and its policies survive
// every path between them unchanged, and a bad value is refused with the same words.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "admin/api/json_body.h"
#include "config/schema.h"
#include "config/yaml/load.h"
#include "config/yaml/write.h"
#include "tests/unit/admin/same_settings.h"

using namespace sekisho;
using nlohmann::json;

namespace {

const std::string kBase = "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n";

void check_same(const config::PolicySettings& a, const config::PolicySettings& b) { test::check_same_policy(a, b); }
void check_same(const config::TenantSettings& a, const config::TenantSettings& b) { test::check_same_tenant(a, b); }

config::LoadResult read_yaml(const std::string& tenant_file) { return config::load_config_text(kBase + tenant_file, "t.yaml"); }

std::string yaml_error(const std::string& policy_yaml) {
  auto r = read_yaml("policies:\n  p: " + policy_yaml + "\n");
  REQUIRE(r.errors.size() == 1);
  return r.errors[0].message;
}

std::string json_error(const std::string& body, std::string& field) {
  config::PolicySettings p;
  try {
    admin::policy_from_json(json::parse(body), p);
  } catch (const admin::ApiError& e) {
    field = e.field;
    return e.what();
  }
  FAIL("accepted: " << body);
  return {};
}

template <class S>
std::vector<std::string> sorted_keys() {
  std::vector<std::string> keys;
  for (auto k : config::schema::keys<S>()) keys.emplace_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> keys_of(const json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;  // nlohmann::json keeps them sorted
}

}  // namespace

TEST_CASE("one schema: YAML written → YAML read → JSON written → JSON read → YAML written is the same") {
  const config::TenantFileContent original = test::rich_tenant_file();
  const std::string yaml = config::render_tenant_file(original);
  auto loaded = read_yaml(yaml);
  INFO(yaml);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.settings.tenants.size() == 1);
  check_same(loaded.settings.tenants[0], original.tenant);
  REQUIRE(loaded.settings.policies.size() == 2);
  check_same(loaded.settings.policies.at("office"), original.policies[0]);
  check_same(loaded.settings.policies.at("kids"), original.policies[1]);

  // The API shows what the YAML holds, field for field, and takes it back unchanged.
  config::TenantFileContent via_json;
  const json tenant = admin::tenant_to_json(loaded.settings.tenants[0]);
  CHECK(tenant == admin::tenant_to_json(original.tenant));
  CHECK(keys_of(tenant) == sorted_keys<config::TenantSettings>());
  static constexpr std::string_view kSettable[] = {"id", "name", "contact", "networks", "policy", "max_devices", "ecs",
                                                   "queries_per_second", "rrl_responses_per_second", "upstream_queries",
                                                   "upstream_queries_per_client", "unverified_udp_size", "intercept_bandwidth",
                                                   "local_records", "local_zones", "forward_zones"};
  json body = tenant;
  body.erase("devices");  // devices have routes of their own
  admin::tenant_from_json(body, kSettable, kSettable, via_json.tenant);
  via_json.tenant.devices = original.tenant.devices;
  check_same(via_json.tenant, original.tenant);
  for (const auto& p : original.policies) {
    const json j = admin::policy_to_json(loaded.settings.policies.at(p.name));
    CHECK(j == admin::policy_to_json(p));
    std::vector<std::string> keys = sorted_keys<config::PolicySettings>();
    keys.push_back("name");
    std::sort(keys.begin(), keys.end());
    CHECK(keys_of(j) == keys);
    json put = j;
    put.erase("name");
    config::PolicySettings back;
    back.name = p.name;
    admin::policy_from_json(put, back);
    check_same(back, p);
    via_json.policies.push_back(back);
  }
  CHECK(keys_of(admin::policy_to_json(original.policies[0])["schedule"][0]) == sorted_keys<config::ScheduleSettings>());
  CHECK(config::render_tenant_file(via_json) == yaml);
}

TEST_CASE("one schema: defaults are left out of the YAML, and read back as defaults by both readers") {
  config::TenantFileContent c;
  c.tenant.id = "kids";
  c.tenant.policy = "kids";
  config::PolicySettings p;
  p.name = "kids";
  config::ScheduleSettings s;
  s.block = {"games"};
  p.schedule.push_back(s);
  c.policies.push_back(p);
  const std::string yaml = config::render_tenant_file(c);
  // What a reader of the file wants to see stays: the name, the action, the window.
  CHECK(yaml.find("name: \"kids\"") != std::string::npos);
  CHECK(yaml.find("action: blockpage") != std::string::npos);
  CHECK(yaml.find("from: \"00:00\"") != std::string::npos);
  CHECK(yaml.find("to: \"24:00\"") != std::string::npos);
  CHECK(yaml.find("timezone: \"UTC\"") != std::string::npos);
  for (const char* left_out : {"contact", "networks", "max_devices", "ecs", "queries_per_second", "upstream_queries", "intercept_bandwidth", "devices", "allow", "deny", "days", "safe_search",
                               "log", "deep_inspection", "block_groups", "mode", "monitor", "read_only", "unblock",
                               "allow_categories", "holidays", "calendar", "since", "until"})
    CHECK_MESSAGE(yaml.find(std::string(left_out) + ":") == std::string::npos, left_out);
  auto loaded = read_yaml(yaml);
  REQUIRE(loaded.ok());
  check_same(loaded.settings.policies.at("kids"), p);
  config::PolicySettings from_json;
  admin::policy_from_json(json{{"schedule", {{{"block", {"games"}}}}}}, from_json);
  from_json.name = "kids";
  check_same(from_json, p);
}

TEST_CASE("one schema: a bad value is refused by YAML and JSON alike, with the same message") {
  struct Case {
    const char* yaml;
    const char* json;
    const char* field;
  } cases[] = {
      {"{action: drop}", R"({"action": "drop"})", "action"},
      {"{log: verbose}", R"({"log": "verbose"})", "log"},
      {"{schedule: [{block: [social], days: [mon, someday]}]}",
       R"({"schedule": [{"block": ["social"], "days": ["mon", "someday"]}]})", "schedule[0].days"},
      {"{schedule: [{block: [social], from: \"9am\"}]}", R"({"schedule": [{"block": ["social"], "from": "9am"}]})",
       "schedule[0].from"},
      {"{schedule: [{block: [social], to: \"24:01\"}]}", R"({"schedule": [{"block": ["social"], "to": "24:01"}]})",
       "schedule[0].to"},
      {"{schedule: [{days: [mon]}]}", R"({"schedule": [{"days": ["mon"]}]})", "schedule[0].block"},
      {"{mode: log}", R"({"mode": "log"})", "mode"},
      {"{holidays: us}", R"({"holidays": "us"})", "holidays"},
      {"{schedule: [{block: [games], until: \"2027-02-30\"}]}",
       R"({"schedule": [{"block": ["games"], "until": "2027-02-30"}]})", "schedule[0].until"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    std::string field;
    const std::string from_json = json_error(c.json, field);
    CHECK(field == c.field);
    CHECK(yaml_error(c.yaml) == from_json);
  }
  CHECK(yaml_error("{action: drop}") == "'drop' is not an action (blockpage | nxdomain | nodata | refused)");
}
