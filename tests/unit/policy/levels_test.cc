// tests/unit/policy/levels_test.cc — levels per category and per group (README "Levels"),
// compiled from YAML by the real loader and decided against a category store on LMDB: allow,
// monitor, read_only, unblock, block; a category's own level beats its group's; a policy in
// mode monitor blocks and steers nothing; conflicting levels are errors naming the place.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/yaml/load.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/import/importer.h"
#include "policy/policy.h"
#include "policy/store/category_store.h"
#include "policy/store/store_writer.h"
#include "tests/unit/policy/one_policy.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho;
using namespace sekisho::policy;

namespace {

struct Fixture {
  sekisho::test::TempDir dir;
  std::unique_ptr<CategoryStore> store;
  std::unique_ptr<CategoryReader> reader;

  Fixture() {
    {
      StoreWriter w(dir.path.string());
      ImportOptions opt;
      opt.format = Format::kCsv;
      EntrySet set;
      ImportReport report;
      ImportSink sink(set, report, opt);
      sink.set_file("csv");
      parse_text(Format::kCsv,
                 "social.example,social\ngames.example,games\nmail.example,webmail\nforum.example,forums\n"
                 "blog.example,blog\nnews.example,news\ncasino.example,gambling\nchat.example,chat\n"
                 "gamecasino.example,games;gambling\n",
                 sink);
      set.finalize();
      SourceInfo info;
      info.name = "csv";
      info.format = "csv";
      w.replace_source(info, set);
    }
    store = CategoryStore::open(dir.path.string());
    reader = std::make_unique<CategoryReader>(*store);
  }

  Verdict decide(const CompiledPolicy& p, std::string_view name) {
    const std::string w = to_wire(name);
    REQUIRE(reader->begin_batch());
    Verdict v = decide_query(p, {reinterpret_cast<const uint8_t*>(w.data()), w.size()}, reader.get(), 0);
    reader->end_batch();
    return v;
  }
};

std::shared_ptr<const PolicySnapshot> compile(const std::string& policy, std::vector<config::ConfigError>* errors_out = nullptr) {
  return test::one_policy(policy, 0, errors_out);
}

uint8_t id(const char* slug) { return CategoryRegistry::builtins().by_slug(slug)->id; }

std::string text(const Verdict& v) {
  char out[128];
  return std::string(out, describe_verdict(v, "t", out, sizeof out));
}

}  // namespace

TEST_CASE("levels: each level decides as documented, and the verdict carries it") {
  Fixture fx;
  auto snap = compile("    block: [gambling]\n"
                      "    unblock: [games]\n"
                      "    read_only: [webmail]\n"
                      "    monitor: [social]\n");
  const CompiledPolicy& p = snap->policies[0];
  Verdict v = fx.decide(p, "www.casino.example");
  CHECK(v.blocked());
  CHECK(v.level == Level::block);
  CHECK(text(v) == "category=gambling tenant=t");
  v = fx.decide(p, "games.example");
  CHECK(v.blocked());
  CHECK(v.level == Level::unblock);
  CHECK(text(v) == "category=games level=unblock tenant=t");
  // A name in a block-level and an unblock-level category: the block-level one decides, whatever
  // their ids' order.
  auto swapped = compile("    block: [games]\n    unblock: [gambling]\n");
  v = fx.decide(swapped->policies[0], "gamecasino.example");
  CHECK(v.blocked());
  CHECK(v.level == Level::block);
  CHECK(v.category == id("games"));
  v = fx.decide(p, "mail.example");
  CHECK(v.inspected());
  CHECK(v.read_only());
  CHECK(v.category == id("webmail"));
  CHECK(text(v) == "inspect=read_only category=webmail tenant=t");
  v = fx.decide(p, "social.example");
  CHECK(v.monitored());
  CHECK_FALSE(v.blocked());
  CHECK(v.rule == RuleKind::category);
  CHECK(v.category == id("social"));
  CHECK(v.categories.contains(id("social")));
  v = fx.decide(p, "news.example");  // allow: not listed
  CHECK(v.kind == VerdictKind::resolve);
  CHECK(v.rule == RuleKind::none);
  CHECK(p.level_of(id("games")) == Level::unblock);
  CHECK(p.level_of(id("news")) == Level::allow);
}

TEST_CASE("levels: a category's own level beats its group's, allow_categories lifts one out of a group") {
  Fixture fx;
  auto snap = compile("    block_groups: [communication]\n"
                      "    monitor: [social]\n"
                      "    read_only: [forums]\n"
                      "    allow_categories: [blog]\n");
  const CompiledPolicy& p = snap->policies[0];
  CHECK(fx.decide(p, "chat.example").blocked());  // the group's level
  CHECK(fx.decide(p, "social.example").monitored());
  CHECK(fx.decide(p, "forum.example").read_only());
  CHECK(fx.decide(p, "blog.example").kind == VerdictKind::resolve);
  // Group levels apply to their members.
  auto two = compile("    monitor_groups: [communication]\n"
                     "    read_only_groups: [entertainment]\n");
  CHECK(fx.decide(two->policies[0], "chat.example").monitored());
  CHECK(fx.decide(two->policies[0], "games.example").read_only());
}

TEST_CASE("levels: mode monitor resolves what enforce would block or steer, and says what it was") {
  Fixture fx;
  auto snap = compile("    mode: monitor\n"
                      "    block: [gambling]\n"
                      "    read_only: [webmail]\n"
                      "    deny: [bad.example]\n");
  const CompiledPolicy& p = snap->policies[0];
  Verdict v = fx.decide(p, "casino.example");
  CHECK(v.monitored());
  CHECK(v.level == Level::block);
  CHECK(v.category == id("gambling"));
  v = fx.decide(p, "mail.example");
  CHECK(v.monitored());
  CHECK(v.level == Level::read_only);
  v = fx.decide(p, "x.bad.example");
  CHECK(v.monitored());
  CHECK(v.rule == RuleKind::deny_list);
  // The CNAME chain too: a monitored target, never a block.
  const std::string chain = to_wire("cdn.example") + to_wire("casino.example");
  REQUIRE(fx.reader->begin_batch());
  v = decide_chain(p, {reinterpret_cast<const uint8_t*>(chain.data()), chain.size()}, fx.reader.get(), 0);
  fx.reader->end_batch();
  CHECK(v.monitored());
  CHECK(v.rule == RuleKind::cname);
}

TEST_CASE("levels: a category or a group at two levels is an error with its place") {
  std::vector<config::ConfigError> errors;
  compile("    block: [games]\n    monitor: [games]\n", &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "policies.p.monitor");
  CHECK(errors[0].message == "category 'games' is listed at two levels (block and monitor)");
  errors.clear();
  compile("    block_groups: [entertainment]\n    read_only_groups: [entertainment]\n", &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "group 'entertainment' is listed at two levels (block_groups and read_only_groups)");
  errors.clear();
  compile("    monitor: [nosuch]\n", &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "policies.p.monitor");
  CHECK(errors[0].message.find("unknown category 'nosuch'") == 0);
  auto loaded = config::load_config_text("server: {listen: {dns: [\"127.0.0.1:0\"]}}\nupstreams: [127.0.0.1:53]\n"
                                         "policies: {p: {mode: log}}\n",
                                         "bad.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.errors[0].message == "'log' is not a policy mode (enforce | monitor)");
}
