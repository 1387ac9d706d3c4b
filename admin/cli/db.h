// admin/cli/db.h — `sekisho db …`: import, lookup, stats, export, remove-source, verify,
// compact and categories for the category store. The command line is declared in
// admin/cli/main.cc (base/command_line.h); run_db gets what it parsed.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "policy/store/schema.h"

namespace sekisho::cli {

// `sekisho db` as parsed.
struct DbArgs {
  std::string db = policy::schema::kDefaultDbPath;
  bool db_given = false;
  std::string categories_file;
  std::string config;                                // sekishod's YAML: its category_db and categories_file
  std::string command;                               // import, lookup, stats, …
  std::vector<std::string> positional;               // import: FILE|DIR|-; lookup: names; remove-source: NAME
  std::multimap<std::string, std::string> options;   // "--source", "--format", "--category" (repeatable)
  std::set<std::string> flags;                       // "--strict", "--quiet", "--allow-shrink", …
  std::string get(const std::string& k) const {
    auto it = options.find(k);
    return it == options.end() ? std::string{} : it->second;
  }
};

// Returns the process exit code: 0 ok, 1 failure (or refused lines with --strict, an update
// the guard refuses (policy/import/update_guard.h), or a lookup miss). Prints errors with context to stderr; throws only command_line::UsageError (exit 2).
// process_argv is main's argv: an import re-executes the process with it
// (policy/import/huge_pages.h).
int run_db(DbArgs args, char** process_argv);

}  // namespace sekisho::cli
