// Adding and revoking a tenant's DoH/DoT devices: the rules `sekisho device` and the admin API
// share, applied to a tenant file's content (admin/tenant_files/tenant_file.h) before it is written.
// Cross-tenant token uniqueness is left to the write's validation (policy::compile_policies
// sees every tenant); the rules here are those one tenant's entry can decide.
#pragma once

#include <string>

#include "admin/tenant_files/tenant_file.h"

namespace sekisho::config {

// 20 characters of [a-z0-9] from the kernel's CSPRNG (getrandom): about 103 bits, a valid
// token (8–32 of [a-z0-9]) that is also a single DNS label for the DoT name.
std::string generate_device_token();

// Appends device `name` with `token` (generated when empty). Returns "" or why it was refused:
// the tenant is at max_devices (naming the limit), the name or token is already there, or the
// name is empty.
std::string add_device(TenantFileContent& content, const std::string& name, std::string& token);

// Removes device `name`. Returns "" or why not (no such device).
std::string revoke_device(TenantFileContent& content, const std::string& name);

}  // namespace sekisho::config
