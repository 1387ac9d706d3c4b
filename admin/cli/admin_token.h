// `sekisho admin token --role operator|tenant-admin [--tenant T] [--name N]`: prints a new
// random token once, and the YAML entry for admin.tokens holding only its SHA-256. The command
// line is declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct AdminTokenArgs {
  std::string role, tenant, name;
};

// Returns 0; a usage problem (a role that is not one, a tenant missing or extra) throws
// command_line::UsageError.
int run_admin_token(const AdminTokenArgs& args);

}  // namespace sekisho::cli
