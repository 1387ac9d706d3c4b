#include "admin/config/configuration.h"

#include <ctime>

#include "policy/store/category_file.h"

namespace sekisho::config {

Configuration load_configuration(const std::string& path) { return load_configuration(path, {}); }

Configuration load_configuration(const std::string& path, const TenantFileOverrides& overrides) {
  LoadResult loaded = path.empty() ? load_config_text(embedded_default_config(), "<embedded defaults>")
                                   : load_config_file(path, overrides);
  Configuration c;
  c.settings = std::move(loaded.settings);
  c.errors = std::move(loaded.errors);
  // The categories file extends the registry the policies compile against; a rejected
  // (re)load puts the previous extensions back.
  auto previous = policy::category_extensions();
  std::vector<policy::CategoryFileError> category_errors;
  if (!policy::apply_category_file(c.settings.categories_file, category_errors))
    for (auto& e : category_errors) c.errors.push_back(ConfigError{e.file, e.line, 0, "categories_file", e.message});
  c.policies = policy::compile_policies(c.settings, static_cast<int64_t>(std::time(nullptr)), c.errors);
  if (!c.ok()) policy::install_category_extensions(std::move(previous));
  return c;
}

}  // namespace sekisho::config
