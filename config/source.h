// Where a configuration comes from, and how its problems are reported. sekishod reads its
// configuration from one ConfigSource at start-up and at every reload (daemon/), so a new
// source (a fleet database) plugs in beside the YAML files without touching the engine.
#pragma once

#include <string>
#include <vector>

#include "config/error.h"
#include "config/settings.h"

namespace sekisho::config {

struct LoadResult {
  Settings settings;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  // Reads the whole configuration afresh. Never throws for bad content: every problem is in
  // LoadResult::errors.
  virtual LoadResult read() const = 0;
  // What to name in logs: a file path, "<embedded defaults>".
  virtual std::string describe() const = 0;
  // Whether a later read() can differ (a file can change; the embedded defaults cannot).
  virtual bool reloadable() const = 0;
};

}  // namespace sekisho::config
