// `sekisho admin token --role operator|tenant-admin [--tenant T] [--name N]`: prints a new
// random token once, and the YAML entry for admin.tokens holding only its SHA-256.
#pragma once

namespace sekisho::cli {

// argv[0] == "admin". Returns 0, or 2 on usage errors.
int run_admin(int argc, char** argv);

}  // namespace sekisho::cli
