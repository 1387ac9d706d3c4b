// admin/cli/audit.h — the `sekisho` commands that change something (device add and revoke, db
// import, remove-source and compact, ca init) record it in the audit log of the configuration
// they were given (admin.audit_log; admin/api/audit.h), beside the admin API's changes and
// sekishod's reloads: who ran it (the login user, or the user sudo ran it for), what, and the
// outcome. Without a configuration, or one without admin.audit_log, nothing is recorded.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sekisho::cli {

// The user running this command: the name of the real uid, "alice (sudo)" under sudo.
std::string command_user();

// Appends one line to `config_path`'s audit log; exit_status 0 is outcome "ok", else "failed"
// (the command printed why). A configuration that cannot be read records nothing (the command
// has already reported it) and a line that cannot be written is reported on stderr.
void audit_command(const std::string& config_path, const std::string& what, const std::string& tenant,
                   const nlohmann::json& before, const nlohmann::json& after, int exit_status);

}  // namespace sekisho::cli
