// A whole configuration as sekishod uses it: the settings a ConfigSource read plus the tenants
// and policies compiled from them (policy.h). The one function start-up, reload and both
// check-config commands go through, so they agree on every error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/source.h"
#include "config/yaml/load.h"
#include "policy/policy.h"

namespace sekisho::policy {

struct Configuration {
  config::Settings settings;
  std::shared_ptr<const PolicySnapshot> policies;
  std::vector<config::ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

// Reads `source` and compiles what it read.
Configuration load_configuration(const config::ConfigSource& source);
// The YAML file at `path` and its tenants.d (`overrides` in place of those files, see
// config/yaml/load.h); `path` empty: the embedded defaults.
Configuration load_configuration(const std::string& path, const config::TenantFileOverrides& overrides = {});

}  // namespace sekisho::policy
