#include "policy/configuration.h"

#include <ctime>

#include "policy/store/category_file.h"

namespace sekisho::policy {

Configuration load_configuration(const config::ConfigSource& source) {
  config::LoadResult loaded = source.read();
  Configuration c;
  c.settings = std::move(loaded.settings);
  c.errors = std::move(loaded.errors);
  // The categories file extends the registry the policies compile against; a rejected
  // (re)load puts the previous extensions back.
  auto previous = category_extensions();
  std::vector<CategoryFileError> category_errors;
  if (!apply_category_file(c.settings.categories_file, category_errors))
    for (auto& e : category_errors) c.errors.push_back(config::ConfigError{e.file, e.line, 0, "categories_file", e.message});
  c.policies = compile_policies(c.settings, static_cast<int64_t>(std::time(nullptr)), c.errors);
  if (!c.ok()) install_category_extensions(std::move(previous));
  return c;
}

Configuration load_configuration(const std::string& path, const config::TenantFileOverrides& overrides) {
  if (path.empty()) return load_configuration(config::EmbeddedDefaultsSource());
  return load_configuration(config::YamlFileSource(path, overrides));
}

}  // namespace sekisho::policy
