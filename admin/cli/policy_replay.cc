#include "admin/cli/policy_replay.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "admin/api/api_internal.h"
#include "admin/api/querylog_search.h"
#include "config/yaml/templates.h"
#include "policy/configuration.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/import/idna.h"
#include "policy/store/category_store.h"

namespace sekisho::cli {
namespace {

using nlohmann::json;

// Queries the policy never judged: refused clients, malformed queries, a spent quota. Their
// outcome would be the same under any policy.
bool judged(std::string_view action) {
  return action != "refused" && action != "malformed" && action != "over_quota";
}

struct Counts {
  uint64_t newly_blocked = 0;
  uint64_t newly_allowed = 0;
};

// The rows of one table, most changed first.
json table(const std::map<std::string, Counts>& rows, size_t top) {
  std::vector<std::pair<std::string, Counts>> sorted(rows.begin(), rows.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.newly_blocked + a.second.newly_allowed > b.second.newly_blocked + b.second.newly_allowed;
  });
  json out = json::array();
  for (size_t i = 0; i < sorted.size() && i < top; ++i)
    out.push_back({{"key", sorted[i].first},
                   {"newly_blocked", sorted[i].second.newly_blocked},
                   {"newly_allowed", sorted[i].second.newly_allowed}});
  return out;
}

// What decided a blocked query, as a category row: the category's slug, or the list.
std::string reason_of_verdict(const policy::Verdict& v) {
  if (v.rule == policy::RuleKind::deny_list) return "(deny list)";
  if (const auto* c = v.category_registry().by_id(static_cast<uint8_t>(v.category))) return std::string(c->slug);
  return "(uncategorised)";
}

std::string reason_of_record(const json& r) {
  const std::string rule = r.value("rule", "");
  if (rule == "deny_list") return "(deny list)";
  const json& cats = r.contains("categories") ? r["categories"] : json::array();
  if (cats.is_array() && !cats.empty() && cats[0].is_string()) return cats[0].get<std::string>();
  return "(uncategorised)";
}

void print_table(const char* title, const json& rows) {
  if (rows.empty()) return;
  std::printf("\nby %s%*s newly blocked  newly allowed\n", title, static_cast<int>(40 - std::string_view(title).size()), "");
  for (const auto& row : rows)
    std::printf("  %-40s %13llu  %13llu\n", row["key"].get<std::string>().c_str(),
                static_cast<unsigned long long>(row["newly_blocked"].get<uint64_t>()),
                static_cast<unsigned long long>(row["newly_allowed"].get<uint64_t>()));
}

}  // namespace

int run_policy_replay(const ReplayArgs& a) {
  policy::Configuration live = policy::load_configuration(a.config);
  if (!live.ok()) {
    for (const auto& e : live.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "sekisho policy replay: " << a.config << " is not a valid configuration\n";
    return 1;
  }
  config::Settings settings = live.settings;
  auto tenant = std::find_if(settings.tenants.begin(), settings.tenants.end(),
                             [&](const config::TenantSettings& t) { return t.id == a.tenant; });
  if (tenant == settings.tenants.end()) {
    std::cerr << "sekisho policy replay: no tenant '" << a.tenant << "' in " << a.config << "\n";
    return 1;
  }
  // The proposed policy takes the tenant's place under a name of its own, so that other tenants
  // sharing the current one are not compiled with it; compiled with the live categories.
  const std::string proposed_name = "sekisho-replay-proposed";
  config::PolicySettings proposed;
  std::vector<config::ConfigError> errors;
  if (!config::load_policy_file(a.proposed, proposed_name, proposed, errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    std::cerr << "sekisho policy replay: " << a.proposed << " is not a policy\n";
    return 1;
  }
  settings.policies[proposed_name] = proposed;
  tenant->policy = proposed_name;
  auto compiled = policy::compile_policies(settings, 0, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    std::cerr << "sekisho policy replay: " << a.proposed << " does not compile against " << a.config << "\n";
    return 1;
  }
  const size_t tenant_index = static_cast<size_t>(tenant - settings.tenants.begin());
  const policy::CompiledPolicy& next = compiled->policies[compiled->tenants[tenant_index].policy];

  std::unique_ptr<policy::CategoryStore> store;
  std::unique_ptr<policy::CategoryReader> reader;
  if (!settings.category_db.empty()) {
    try {
      store = policy::CategoryStore::open(settings.category_db, {.registry = compiled->categories.get()});
      reader = std::make_unique<policy::CategoryReader>(*store);
      // One snapshot for the whole replay: every logged query is judged against the same data.
      if (!reader->begin_batch()) throw std::runtime_error("no read snapshot could be taken");
    } catch (const std::exception& e) {
      std::cerr << "sekisho policy replay: category store " << settings.category_db << ": " << e.what() << "\n";
      return 1;
    }
  }

  admin::LogQuery q;
  q.tenant = a.tenant;
  q.limit = 1000;
  q.max_lines_scanned = UINT64_MAX;
  for (const auto* text : {&a.from, &a.to}) {
    if (text->empty()) continue;
    auto us = admin::parse_instant(*text);
    if (!us) {
      std::cerr << "sekisho policy replay: '" << *text << "' is not a time (2026-11-25, 2026-11-25T09:30:00Z or Unix seconds)\n";
      return 2;
    }
    // A date as `to` means through the end of that day.
    if (text == &a.to && text->size() == 10) *us += 86400LL * 1000000;
    (text == &a.from ? q.from_us : q.to_us) = *us;
  }
  const std::string directory = a.querylog.empty() ? settings.querylog.directory : a.querylog;
  if (directory.empty()) {
    std::cerr << "sekisho policy replay: where is the query log? (--querylog DIR, or querylog.directory in " << a.config << ")\n";
    return 1;
  }

  uint64_t queries = 0, newly_blocked = 0, newly_allowed = 0, still_blocked = 0, still_allowed = 0, not_replayed = 0;
  std::map<std::string, Counts> by_category, by_name, by_device;
  std::map<std::string, bool> blocked_names, allowed_names;
  for (;;) {
    admin::LogPage page;
    try {
      page = admin::search_querylog(directory, q);
    } catch (const std::exception& e) {
      std::cerr << "sekisho policy replay: " << directory << ": " << e.what() << "\n";
      return 1;
    }
    for (const json& r : page.records) {
      const std::string action = r.value("action", "");
      if (!judged(action)) continue;
      ++queries;
      const std::string name = r.value("name", "");
      const bool was_blocked = action == "blocked";
      // The log keeps no answers: a block by a CNAME chain cannot be judged again, and stands.
      if (r.value("rule", "") == "cname") {
        ++not_replayed;
        continue;
      }
      std::string normalised, why;
      if (!policy::normalize_name(name, normalised, why)) {
        ++not_replayed;
        continue;
      }
      const std::string wire = policy::to_wire(normalised);
      const auto when = admin::parse_instant(r.value("time", ""));
      const policy::Verdict v =
          policy::decide_query(next, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()}, reader.get(),
                               when ? *when / 1000000 : 0);
      const bool blocks = v.blocked();
      if (blocks == was_blocked) {
        ++(blocks ? still_blocked : still_allowed);
        continue;
      }
      std::string device = r.value("device", "");
      if (device.empty()) device = r.value("client", "");
      const std::string category = blocks ? reason_of_verdict(v) : reason_of_record(r);
      uint64_t Counts::*field = blocks ? &Counts::newly_blocked : &Counts::newly_allowed;
      ++(blocks ? newly_blocked : newly_allowed);
      (blocks ? blocked_names : allowed_names)[name] = true;
      ++(by_category[category].*field);
      ++(by_name[name].*field);
      ++(by_device[device].*field);
    }
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
  }

  json out = {{"tenant", a.tenant},
              {"proposed", a.proposed},
              {"queries", queries},
              {"newly_blocked", newly_blocked},
              {"newly_allowed", newly_allowed},
              {"newly_blocked_names", blocked_names.size()},
              {"newly_allowed_names", allowed_names.size()},
              {"unchanged_blocked", still_blocked},
              {"unchanged_allowed", still_allowed},
              {"not_replayed", not_replayed},
              {"by_category", table(by_category, a.top)},
              {"by_name", table(by_name, a.top)},
              {"by_device", table(by_device, a.top)}};
  if (a.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("tenant %s: %llu queries judged by its policy%s%s%s%s\n", a.tenant.c_str(),
              static_cast<unsigned long long>(queries), a.from.empty() ? "" : " from ", a.from.c_str(),
              a.to.empty() ? "" : " to ", a.to.c_str());
  std::printf("with %s:\n", a.proposed.c_str());
  std::printf("  newly blocked  %llu queries (%zu names)\n", static_cast<unsigned long long>(newly_blocked), blocked_names.size());
  std::printf("  newly allowed  %llu queries (%zu names)\n", static_cast<unsigned long long>(newly_allowed), allowed_names.size());
  std::printf("  unchanged      %llu blocked, %llu allowed\n", static_cast<unsigned long long>(still_blocked),
              static_cast<unsigned long long>(still_allowed));
  if (not_replayed)
    std::printf("  not replayed   %llu (blocked by a CNAME chain, which the log does not keep)\n",
                static_cast<unsigned long long>(not_replayed));
  print_table("category", out["by_category"]);
  print_table("name", out["by_name"]);
  print_table("device", out["by_device"]);
  return 0;
}

}  // namespace sekisho::cli
