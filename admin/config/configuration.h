// A whole configuration as sekishod uses it: the settings read from YAML (load.h) plus the
// tenants and policies compiled from them (policy/policy.h). The one function start-up,
// SIGHUP reload and both check-config commands go through, so they agree on every error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "admin/config/load.h"
#include "policy/policy.h"

namespace sekisho::config {

struct Configuration {
  Settings settings;
  std::shared_ptr<const policy::PolicySnapshot> policies;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

// `path` empty: the embedded defaults.
Configuration load_configuration(const std::string& path);
// The same, reading `overrides` instead of those tenants.d files (load.h).
Configuration load_configuration(const std::string& path, const TenantFileOverrides& overrides);

}  // namespace sekisho::config
