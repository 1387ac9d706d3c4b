// admin/cli/db.h — `sekisho db …`: import, lookup, stats, export, remove-source, verify for the
// category store. Called by the `sekisho` dispatcher with argv[0] == "db".
#pragma once

namespace sekisho::cli {

// Returns the process exit code: 0 ok, 1 failure (or refused lines with --strict, or lookup
// miss), 2 usage error. Prints errors with context to stderr; never throws. process_argv is
// main's argv: an import re-executes the process with it (policy/import/huge_pages.h).
int run_db(int argc, char** argv, char** process_argv);

}  // namespace sekisho::cli
