// `sekisho device add|list|revoke`: a tenant's DoH/DoT devices, written to its
// tenants.d/<tenant>.yaml through admin/tenant_files/tenant_file.h (validated, atomic, ETag-guarded).
#pragma once

namespace sekisho::cli {

// argv[0] == "device". Returns 0 ok, 1 refused or failed (reason on stderr), 2 usage error.
int run_device(int argc, char** argv);

}  // namespace sekisho::cli
