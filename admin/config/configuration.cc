#include "admin/config/configuration.h"

#include <ctime>

namespace sekisho::config {

Configuration load_configuration(const std::string& path) { return load_configuration(path, {}); }

Configuration load_configuration(const std::string& path, const TenantFileOverrides& overrides) {
  LoadResult loaded = path.empty() ? load_config_text(embedded_default_config(), "<embedded defaults>")
                                   : load_config_file(path, overrides);
  Configuration c;
  c.settings = std::move(loaded.settings);
  c.errors = std::move(loaded.errors);
  c.policies = policy::compile_policies(c.settings, static_cast<int64_t>(std::time(nullptr)), c.errors);
  return c;
}

}  // namespace sekisho::config
