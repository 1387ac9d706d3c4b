// A whole configuration as sekishod uses it: the settings a ConfigSource read plus the tenants
// and policies compiled from them (policy.h). The one function start-up, reload and both
// check-config commands go through, so they agree on every error.
#pragma once

#include <memory>
#include <string>
#include <string_view>
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

// What checking a configuration adds to loading it: the category store `category_db` names is
// opened read-only with this configuration's categories, as sekishod and sekisho-intercept open
// it at start, so a store that is missing, is not a store or holds ids the configuration does
// not define is an error now rather than a failed restart later. An error located at the
// `category_db` line is appended to `c.errors`. Not part of loading: a reload, and the admin
// API's check before a write, leave the store to the running server.
void check_category_store(Configuration& c);

// `sekishod --check-config`, `sekisho-intercept --check-config` and `sekisho check-config`:
// load, check the store, print every error on stderr or "PATH: ok" on stdout; the exit status.
int run_check_config(const std::string& path);

// What each program does with the configuration it is to start with: true when it is valid;
// else every error, then "PROGRAM: refusing to start with an invalid configuration (N errors)",
// on stderr, and false.
bool ready_to_start(const Configuration& c, std::string_view program);

}  // namespace sekisho::policy
