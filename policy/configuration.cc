#include "policy/configuration.h"

#include <ctime>

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

}  // namespace sekisho::policy
