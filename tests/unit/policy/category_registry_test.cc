// The category registry belongs to the snapshot it was compiled with: checking a candidate
// configuration (check-config, the admin API's pre-check, a reload that is then refused)
// changes nothing the running configuration reads.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "policy/configuration.h"
#include "policy/decide.h"
#include "policy/store/categories.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string categories_file(const char* slug, const char* group) {
  return std::string("categories:\n  - {id: 40, slug: ") + slug + ", group: " + group + ", en: X, ja: X}\n";
}

std::string config_blocking(const fs::path& categories, const char* slug) {
  return "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n"
         "categories_file: " + categories.string() + "\n"
         "tenants:\n  - {id: acme, networks: [\"10.0.0.0/8\"], policy: office}\n"
         "policies:\n  office: {block: [" + slug + "]}\n";
}

std::string verdict_text(const PolicySnapshot& snap) {
  Verdict v;
  v.kind = VerdictKind::block;
  v.rule = RuleKind::category;
  v.category = 40;
  v.registry = snap.policies[0].categories;
  char text[128];
  return std::string(text, describe_verdict(v, "acme", text, sizeof text)) + (v.security() ? " (security)" : "");
}

}  // namespace

TEST_CASE("registry: a candidate with other categories leaves the live snapshot's registry untouched") {
  test::TempDir dir;
  const fs::path cats = dir.path / "categories.yaml";
  const fs::path conf = dir.path / "sekishod.yaml";
  write(cats, categories_file("c2", "security"));
  write(conf, config_blocking(cats, "c2"));
  const Configuration live = load_configuration(conf.string());
  REQUIRE(live.ok());
  const std::shared_ptr<const CategoryRegistry> registry = live.policies->categories;
  const CategoryInfo* c2 = registry->by_id(40);
  REQUIRE(c2 != nullptr);
  CHECK(c2->slug == "c2");
  CHECK(live.policies->policies[0].categories == registry.get());
  CHECK(live.policies->policies[0].block.contains(40));
  CHECK(verdict_text(*live.policies) == "category=c2 tenant=acme (security)");

  // A valid candidate that renames id 40 and makes it content: checked and compiled...
  write(cats, categories_file("botnet", "content"));
  write(conf, config_blocking(cats, "botnet"));
  const Configuration candidate = load_configuration(conf.string());
  REQUIRE(candidate.ok());
  CHECK(candidate.policies->categories->by_id(40)->slug == "botnet");
  CHECK(verdict_text(*candidate.policies) == "category=botnet tenant=acme");
  // ...and an invalid one (a built-in slug; the policy names a category nobody defines).
  write(cats, categories_file("ads", "security"));
  write(conf, config_blocking(cats, "c3"));
  const Configuration refused = load_configuration(conf.string());
  CHECK_FALSE(refused.ok());

  // The live snapshot reads what it read before, through the very same objects.
  CHECK(live.policies->categories == registry);
  CHECK(registry->by_id(40) == c2);
  CHECK(c2->slug == "c2");
  CHECK(c2->kind == CategoryKind::kSecurity);
  CHECK(registry->by_slug("botnet") == nullptr);
  CHECK(verdict_text(*live.policies) == "category=c2 tenant=acme (security)");
  // Nothing global changed either.
  CHECK(CategoryRegistry::builtins().by_id(40) == nullptr);
  CHECK(CategoryRegistry::builtins().by_slug("c2") == nullptr);
}

TEST_CASE("registry: a configuration without a categories file shares the built-ins") {
  test::TempDir dir;
  const fs::path conf = dir.path / "sekishod.yaml";
  write(conf, "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5399\"]\n");
  const Configuration c = load_configuration(conf.string());
  REQUIRE(c.ok());
  CHECK(c.policies->categories.get() == &CategoryRegistry::builtins());
}
