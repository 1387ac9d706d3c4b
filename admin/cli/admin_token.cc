#include "admin/cli/admin_token.h"

#include <cstdio>
#include <string>

#include "admin/api/token.h"
#include "base/usage_error.h"

namespace sekisho::cli {

int run_admin_token(const AdminTokenArgs& args) {
  using command_line::UsageError;
  const std::string& role = args.role;
  const std::string& tenant = args.tenant;
  std::string name = args.name;
  if (role != "operator" && role != "tenant-admin") throw UsageError("--role must be operator or tenant-admin");
  if (role == "tenant-admin" && tenant.empty()) throw UsageError("a tenant-admin token needs --tenant ID");
  if (role == "operator" && !tenant.empty())
    throw UsageError("an operator token covers every tenant; drop --tenant");
  if (name.empty()) name = role == "operator" ? "operator" : tenant + "-admin";
  if (name.find_first_of("\"\\\n") != std::string::npos || tenant.find_first_of("\"\\\n") != std::string::npos)
    throw UsageError("--name and --tenant may not contain quotes, backslashes or newlines");
  const std::string token = admin::new_token();
  std::printf("token: %s\n", token.c_str());
  std::printf("# admin.tokens entry:\n");
  std::printf("  - {name: \"%s\", role: %s%s%s%s, sha256: %s}\n", name.c_str(), role.c_str(),
              tenant.empty() ? "" : ", tenant: \"", tenant.c_str(), tenant.empty() ? "" : "\"",
              admin::sha256_hex(token).c_str());
  return 0;
}

}  // namespace sekisho::cli
