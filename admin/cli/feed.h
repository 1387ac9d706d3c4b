// admin/cli/feed.h — `sekisho feed status`: each configured feed as sekisho-feed last left it
// (its status file, feed/status.h). The command line is declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct FeedArgs {
  std::string config;
  std::string name;  // one feed; empty: all
  bool json = false;
};

// Returns 0 when every feed shown last succeeded and is not expired, 1 otherwise (a script's
// check), 2 for usage problems.
int run_feed_status(const FeedArgs& args);

}  // namespace sekisho::cli
