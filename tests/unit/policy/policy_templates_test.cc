// The policy templates shipped in etc/templates/ (issue 21 item 6): every one is read by the one
// schema, compiles against the built-in categories (as a tenant's policy would when the admin
// API writes it), and carries its Japanese and English names and description; a template with a
// mistake is reported at its line and left out.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/yaml/load.h"
#include "config/yaml/templates.h"
#include "policy/policy.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;

namespace {

const std::string kShipped = std::string(SEKISHO_SOURCE_DIR) + "/etc/templates";

bool has_non_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

}  // namespace

TEST_CASE("every shipped template loads, compiles and is named in Japanese and English") {
  std::vector<config::ConfigError> errors;
  const auto templates = config::load_policy_templates(kShipped, errors);
  for (const auto& e : errors) INFO(e.to_string());
  CHECK(errors.empty());
  std::vector<std::string> ids;
  for (const auto& t : templates) ids.push_back(t.id);
  CHECK(ids == std::vector<std::string>{"enterprise-basic", "enterprise-productivity", "enterprise-security",
                                        "school-elementary", "school-high", "school-junior-high", "university"});
  for (const auto& t : templates) {
    INFO(t.id);
    CHECK(!t.name_en.empty());
    CHECK(!t.description_en.empty());
    CHECK(has_non_ascii(t.name_ja));
    CHECK(has_non_ascii(t.description_ja));
    CHECK(t.policy.name == t.id);
    // As the tenant's own policy: every category and group it names is one.
    auto loaded = config::load_config_text(
        "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n"
        "tenants:\n  - {id: t, networks: [\"10.0.0.0/8\"], policy: p}\npolicies:\n  p: {}\n",
        "t.yaml");
    REQUIRE(loaded.errors.empty());
    config::PolicySettings p = t.policy;
    p.name = "p";
    loaded.settings.policies["p"] = p;
    std::vector<config::ConfigError> compile_errors;
    auto snap = policy::compile_policies(loaded.settings, 0, compile_errors);
    for (const auto& e : compile_errors) INFO(e.to_string());
    CHECK(compile_errors.empty());
    CHECK(snap->policies[snap->tenants[0].policy].filters());
  }
}

TEST_CASE("the school templates force safe search and block more than the company baseline") {
  std::vector<config::ConfigError> errors;
  const auto templates = config::load_policy_templates(kShipped, errors);
  auto find = [&](std::string_view id) -> const config::PolicyTemplate& {
    for (const auto& t : templates)
      if (t.id == id) return t;
    FAIL("no template " << id);
    return templates.front();
  };
  for (auto id : {"school-elementary", "school-junior-high", "school-high"}) CHECK(find(id).policy.safe_search);
  CHECK(!find("enterprise-basic").policy.safe_search);
  CHECK(find("school-elementary").policy.block.size() > find("school-junior-high").policy.block.size());
  CHECK(find("university").policy.log == config::LogMode::anonymized);
  CHECK(find("enterprise-productivity").policy.schedule.size() == 1);
}

TEST_CASE("a template with a mistake is reported at its line and left out") {
  test::TempDir dir;
  std::ofstream(dir.path / "good.yaml") << "name: {en: Good, ja: 良い}\ndescription: {en: d, ja: 説明}\npolicy:\n  block: [games]\n";
  std::ofstream(dir.path / "bad.yaml") << "name: {en: Bad, ja: 悪い}\ndescription: {en: d, ja: 説明}\npolicy:\n"
                                          "  block: [games]\n  action: drop\n";
  std::ofstream(dir.path / "nameless.yaml") << "description: {en: d, ja: 説明}\npolicy: {}\n";
  std::vector<config::ConfigError> errors;
  const auto templates = config::load_policy_templates(dir.path.string(), errors);
  REQUIRE(templates.size() == 1);
  CHECK(templates[0].id == "good");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].file.ends_with("bad.yaml"));
  CHECK(errors[0].line == 5);
  CHECK(errors[0].message == "'drop' is not an action (blockpage | nxdomain | nodata | refused)");
  CHECK(errors[1].file.ends_with("nameless.yaml"));
  CHECK(errors[1].path == "name");
}
