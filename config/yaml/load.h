// YAML → Settings: the main file, the tenants.d files beside it and the categories file it
// names (read last, into Settings::categories). Every problem is collected (not just the first)
// with file:line:col and the key path, so `--check-config`, start-up and reload all report the
// same messages. Tenants, devices, policies and schedules are read through config/schema.h.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/source.h"

namespace sekisho::config {

LoadResult load_config_file(const std::string& path);

// The tenants.d directory load_config_file reads for `main_file`: its `tenants_dir` key (taken
// from the main file's directory when relative), else tenants.d beside it. Reads the main file
// for the key; a file that does not parse gives the default.
std::filesystem::path tenants_dir(const std::string& main_file);

// Text to read instead of a tenants.d file, keyed by its path as tenants_dir(main) / name
// forms it; std::nullopt hides a file that is on disk. Lets admin/tenant_files/tenant_file.h validate
// a change with the real loader before anything is written.
using TenantFileOverrides = std::map<std::string, std::optional<std::string>>;
LoadResult load_config_file(const std::string& path, const TenantFileOverrides& overrides);
LoadResult load_config_text(std::string_view yaml, const std::string& source_name);

// The main YAML file and its tenants.d/ directory as a ConfigSource (with `overrides` in place
// of those tenants.d files).
class YamlFileSource final : public ConfigSource {
 public:
  explicit YamlFileSource(std::string path, TenantFileOverrides overrides = {})
      : path_(std::move(path)), overrides_(std::move(overrides)) {}
  LoadResult read() const override { return load_config_file(path_, overrides_); }
  std::string describe() const override { return path_; }
  bool reloadable() const override { return true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  TenantFileOverrides overrides_;
};

// The embedded defaults (below) as a ConfigSource: nothing to reload.
class EmbeddedDefaultsSource final : public ConfigSource {
 public:
  LoadResult read() const override;
  std::string describe() const override { return "<embedded defaults>"; }
  bool reloadable() const override { return false; }
};

// The configuration sekishod runs with when no --config is given: unprivileged loopback ports,
// upstreams from /etc/resolv.conf.
std::string_view embedded_default_config();

}  // namespace sekisho::config
