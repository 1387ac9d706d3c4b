// `sekisho device add|list|revoke`: a tenant's DoH/DoT devices, written to its
// tenants.d/<tenant>.yaml through admin/tenant_files/tenant_file.h (validated, atomic,
// ETag-guarded). The command line is declared in admin/cli/main.cc.
#pragma once

#include <optional>
#include <string>

namespace sekisho::cli {

struct DeviceArgs {
  std::string command;  // add | list | revoke
  std::string config, tenant, device;
  std::optional<std::string> token;  // add: given (then not empty), or generated
};

// Returns 0 ok, 1 refused or failed (reason on stderr); a usage problem throws
// command_line::UsageError.
int run_device(const DeviceArgs& args);

}  // namespace sekisho::cli
