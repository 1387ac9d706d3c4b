// One tenant's tenants.d file as YAML text: written from settings (the YAML writer, walking
// the field descriptions of config/schema.h like the reader does, so what it writes reads back
// as the same settings), and checked to hold nothing but that tenant before a program
// rewrites it. The file's I/O (locking, ETags, atomic replacement) is
// admin/tenant_files/tenant_file.h's.
#pragma once

#include <string>
#include <vector>

#include "config/settings.h"

namespace sekisho::config {

struct TenantFileContent {
  TenantSettings tenant;
  std::vector<PolicySettings> policies;  // policies defined in this file (others may be in the main file)
};

// The YAML for `content`, starting with a comment that says the file is written by programs.
// Fields at their defaults are left out (except those a reader of the file wants to see: the
// policy's action and a schedule's window); comments and key order written by hand are not kept.
std::string render_tenant_file(const TenantFileContent& content);

// Whether `bytes` (the file at `path`) holds exactly `tenant_id`'s entry (and maybe policies),
// so rewriting it loses nothing. Otherwise `why` says what else is in it.
bool tenant_file_holds_only(const std::string& bytes, const std::string& path, const std::string& tenant_id,
                            std::string& why);

}  // namespace sekisho::config
