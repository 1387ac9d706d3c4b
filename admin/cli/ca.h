// admin/cli/ca.h — `sekisho ca init|export`: the inspection CAs of sekisho-intercept. The
// command line is declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct CaArgs {
  std::string command;  // init | export
  std::string tenant, dir, config, name;
  bool der = false;
};

// Returns 0 ok, 1 failure (message with the path on stderr); a usage problem throws
// command_line::UsageError.
int run_ca(const CaArgs& args);

}  // namespace sekisho::cli
