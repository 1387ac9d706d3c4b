#include "policy/configuration.h"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <exception>
#include <stdexcept>

#include "config/advice.h"
#include "policy/store/category_store.h"

namespace sekisho::policy {

// Nothing here touches state anyone else reads: the registry the policies compile against is
// built from what the source read and travels in the snapshot (policy.h), so checking a
// candidate (check-config, the admin API's pre-check, a rejected reload) leaves the running
// configuration exactly as it was.
Configuration load_configuration(const config::ConfigSource& source) {
  config::LoadResult loaded = source.read();
  Configuration c;
  c.settings = std::move(loaded.settings);
  c.errors = std::move(loaded.errors);
  c.policies = compile_policies(c.settings, static_cast<int64_t>(std::time(nullptr)), c.errors);
  return c;
}

Configuration load_configuration(const std::string& path, const config::TenantFileOverrides& overrides) {
  if (path.empty()) return load_configuration(config::EmbeddedDefaultsSource());
  return load_configuration(config::YamlFileSource(path, overrides));
}

void check_category_store(Configuration& c) {
  const config::Settings& s = c.settings;
  if (s.category_db.empty() || !c.policies) return;
  try {
    // LMDB would create its lock file in a directory that holds no store before failing:
    // checking must leave the disk as it was.
    struct stat st;
    if (::stat(s.category_db.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
        ::stat((s.category_db + "/data.mdb").c_str(), &st) != 0)
      throw std::runtime_error(s.category_db + ": the directory holds no category store (no data.mdb)");
    const auto store = CategoryStore::open(s.category_db, {.registry = c.policies->categories.get()});
    (void)store;  // opening is the check; closed again at once
  } catch (const std::exception& e) {
    const config::SourceMark& m = s.category_db_mark;
    c.errors.push_back(config::ConfigError{m.file.empty() ? s.source : m.file, m.line, m.column, "category_db",
                                           std::string("cannot open the category store: ") + e.what() +
                                               " (create it with: sekisho db import --db " + s.category_db + " ...)"});
  }
}

int run_check_config(const std::string& path) {
  Configuration c = load_configuration(path);
  if (c.ok()) check_category_store(c);
  for (const auto& e : c.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!c.ok()) return 1;
  for (const std::string& w : config::risky_settings(c.settings)) std::fprintf(stderr, "%s: warning: %s\n", path.c_str(), w.c_str());
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

bool ready_to_start(const Configuration& c, std::string_view program) {
  if (c.ok()) return true;
  for (const auto& e : c.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  std::fprintf(stderr, "%.*s: refusing to start with an invalid configuration (%zu error%s)\n",
               static_cast<int>(program.size()), program.data(), c.errors.size(), c.errors.size() == 1 ? "" : "s");
  return false;
}

}  // namespace sekisho::policy
