// admin/cli/fleet.h — `sekisho fleet init | migrate | import-yaml | export-yaml | status`: the
// fleet database a configuration's `fleet:` section names (config/fleet/). The command line is
// declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct FleetArgs {
  std::string command;  // init, migrate, import-yaml, export-yaml, status
  std::string config;   // sekishod's configuration with a fleet: section
  std::string dir;      // export-yaml: where the documents go
};

// 0 on success; 1 when the database refuses or cannot be reached (the reason on stderr).
int run_fleet(const FleetArgs& args);

}  // namespace sekisho::cli
