// admin/cli/policy_replay.h — `sekisho policy replay`: what a proposed policy would have done to
// a tenant's logged queries (issue 21 item 8), before an administrator switches to it. The
// command line is declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct ReplayArgs {
  std::string config;    // sekishod's configuration: the tenant, its policy, the store, the query log
  std::string tenant;
  std::string from, to;  // "2026-12-01", "2026-12-01T09:00:00Z" or Unix seconds; a date `to` takes the whole day
  std::string querylog;  // the query-log directory; default: the configuration's querylog.directory
  std::string proposed;  // a policy file (a policy mapping, or a template file)
  bool json = false;
  size_t top = 20;       // rows per table
};

// 0 after printing the comparison, 1 when the configuration, the proposed policy or the log
// cannot be read.
int run_policy_replay(const ReplayArgs& args);

}  // namespace sekisho::cli
