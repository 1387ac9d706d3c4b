#include "admin/cli/audit.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "admin/api/audit.h"
#include "base/clock.h"
#include "config/yaml/load.h"

namespace sekisho::cli {

std::string command_user() {
  const uid_t uid = ::getuid();
  std::string name = std::to_string(uid);
  if (const passwd* pw = ::getpwuid(uid)) name = pw->pw_name;
  // sudo runs as root; the admin who typed the command is the one an auditor looks for.
  if (const char* sudo_user = std::getenv("SUDO_USER"); uid == 0 && sudo_user && *sudo_user)
    return std::string(sudo_user) + " (sudo)";
  return name;
}

void audit_command(const std::string& config_path, const std::string& what, const std::string& tenant,
                   const nlohmann::json& before, const nlohmann::json& after, int exit_status) {
  if (config_path.empty()) return;
  const config::LoadResult loaded = config::load_config_file(config_path);
  // No audit_log: the admin API's lines go to sekishod's stderr (its log); a command's stderr
  // is the admin's terminal, which is no log.
  if (!loaded.ok() || loaded.settings.admin.audit_log.empty()) return;
  admin::AuditLog audit;
  audit.set_path(loaded.settings.admin.audit_log);
  const int64_t now_us = ClockReading::now().wall_us;
  if (!audit.record(command_user(), "cli", what, tenant, before, after, exit_status == 0 ? "ok" : "failed", now_us))
    std::fprintf(stderr, "sekisho: warning: the change was not written to the audit log %s\n",
                 loaded.settings.admin.audit_log.c_str());
}

}  // namespace sekisho::cli
