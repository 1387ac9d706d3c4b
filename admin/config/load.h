// YAML → Settings. Every problem is collected (not just the first) with file:line:col and the
// key path, so `--check-config`, start-up and reload all report the same messages.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/config/settings.h"

namespace sekisho::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string path;  // e.g. "server.listen.dns[1]"
  std::string message;

  std::string to_string() const;  // "file:line:col: path: message"
};

struct LoadResult {
  Settings settings;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

LoadResult load_config_file(const std::string& path);

// The tenants.d directory load_config_file reads beside `main_file`.
std::filesystem::path tenants_dir(const std::string& main_file);

// Text to read instead of a tenants.d file, keyed by its path as tenants_dir(main) / name
// forms it; std::nullopt hides a file that is on disk. Lets admin/config/tenant_file.h validate
// a change with the real loader before anything is written.
using TenantFileOverrides = std::map<std::string, std::optional<std::string>>;
LoadResult load_config_file(const std::string& path, const TenantFileOverrides& overrides);
LoadResult load_config_text(std::string_view yaml, const std::string& source_name);

// The configuration sekishod runs with when no --config is given: unprivileged loopback ports,
// upstreams from /etc/resolv.conf.
std::string_view embedded_default_config();

}  // namespace sekisho::config
