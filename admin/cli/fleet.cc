#include "admin/cli/fleet.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "base/file.h"
#include "config/fleet/database.h"
#include "config/fleet/source.h"
#include "config/yaml/load.h"
#include "config/yaml/write.h"
#include "policy/configuration.h"

namespace sekisho::cli {
namespace {

namespace fs = std::filesystem;
using config::fleet::Database;

int fail(const std::string& why) {
  std::fprintf(stderr, "sekisho fleet: %s\n", why.c_str());
  return 1;
}

// init: an empty database only, so a mistyped conninfo never "initialises" a live fleet twice.
int init(Database& db) {
  const auto version = db.schema_version();
  if (!version) return fail(db.error());
  if (*version != 0)
    return fail("the database is already initialised (schema version " + std::to_string(*version) +
                "); use `sekisho fleet migrate` to upgrade it");
  std::vector<int> applied;
  if (!db.migrate(applied)) return fail(db.error());
  std::printf("initialised: schema version %zu\n", config::fleet::migrations().size());
  return 0;
}

int migrate(Database& db) {
  std::vector<int> applied;
  if (!db.migrate(applied)) return fail(db.error());
  if (applied.empty()) std::printf("up to date: schema version %zu\n", config::fleet::migrations().size());
  for (int v : applied) std::printf("applied migration %d\n", v);
  return 0;
}

// The tenants.d files beside `config_path`, each tenants.d/<id>.yaml holding exactly tenant
// <id> (what `sekisho device` and the admin API write), become the fleet's documents, byte for
// byte, in one transaction — after the whole configuration with them is checked as a fleet node
// would read it. Tenants of the main file stay there (every node reads the main file).
int import_yaml(Database& db, const std::string& config_path) {
  std::vector<config::fleet::Document> documents;
  const fs::path dir = config::tenants_dir(config_path);
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto bytes = base::read_file(f.string());
    if (!bytes) return fail("cannot read " + f.string());
    const std::string id = f.stem().string();
    std::string why;
    if (f.extension() != ".yaml" || !config::tenant_file_holds_only(*bytes, f.string(), id, why))
      return fail(f.string() + " is not one tenant's file named after it (" + (why.empty() ? "rename it <id>.yaml" : why) +
                  "); nothing imported");
    documents.push_back({id, *bytes, 0});
  }
  config::fleet::Snapshot candidate;
  candidate.tenants = documents;
  const auto checked = policy::load_configuration(config_path, config::fleet::overrides(config_path, candidate));
  if (!checked.ok()) {
    for (const auto& e : checked.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return fail("the configuration with these tenants is invalid; nothing imported");
  }
  const auto w = db.replace_all(documents);
  if (w.outcome != Database::Outcome::ok) return fail(w.message);
  std::printf("imported %zu tenants (generation %lld)\n", documents.size(), static_cast<long long>(w.version));
  return 0;
}

int export_yaml(Database& db, const std::string& out_dir) {
  auto s = db.snapshot();
  if (!s) return fail(db.error());
  if (std::string e = base::make_directories(out_dir, 0750); !e.empty()) return fail(e);
  for (const auto& d : s->tenants) {
    base::AtomicWrite how;
    how.mode = 0640;  // device tokens: no wider than a configuration file
    if (std::string e = base::write_file_atomically((fs::path(out_dir) / (d.id + ".yaml")).string(), d.text, how); !e.empty())
      return fail(e);
  }
  std::printf("exported %zu tenants (generation %lld) to %s\n", s->tenants.size(), static_cast<long long>(s->generation),
              out_dir.c_str());
  return 0;
}

int status(Database& db) {
  const auto version = db.schema_version();
  if (!version) return fail(db.error());
  std::printf("schema version %d (this program: %zu)\n", *version, config::fleet::migrations().size());
  if (*version == 0) return 0;
  auto s = db.snapshot();
  auto nodes = db.nodes();
  if (!s || !nodes) return fail(db.error());
  std::printf("generation %lld, %zu tenants\n", static_cast<long long>(s->generation), s->tenants.size());
  for (const auto& n : *nodes)
    std::printf("node %s: generation %lld (applied %s), last seen %s%s\n", n.name.c_str(),
                static_cast<long long>(n.generation), n.applied_at.c_str(), n.last_seen.c_str(),
                n.generation == s->generation ? "" : " — behind");
  return 0;
}

}  // namespace

int run_fleet(const FleetArgs& args) {
  const config::LoadResult loaded = config::load_config_file(args.config);
  if (loaded.settings.source.empty()) return fail(loaded.errors.empty() ? "cannot read " + args.config : loaded.errors[0].to_string());
  if (!loaded.settings.fleet.enabled()) return fail(args.config + " has no fleet: section (fleet.conninfo)");
  Database db(loaded.settings.fleet, "sekisho fleet " + args.command);
  if (!db.ok()) return fail("cannot connect to the fleet database: " + db.error());
  if (args.command == "init") return init(db);
  if (args.command == "migrate") return migrate(db);
  if (args.command == "import-yaml") return import_yaml(db, args.config);
  if (args.command == "export-yaml") return export_yaml(db, args.dir);
  return status(db);
}

}  // namespace sekisho::cli
