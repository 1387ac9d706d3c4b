// The demo category data of the embedded defaults: `sekishod` run without --config imports
// etc/demo/categories.csv (compiled in) into a store of its own, so a first run filters
// something without any download. A configured server never uses this.
#pragma once

#include <string>

namespace sekisho::daemon {

// Creates (or refreshes) the demo store under $STATE_DIRECTORY, else under
// /tmp/sekisho-demo-<uid>, and returns its path. Throws std::runtime_error with the reason.
std::string prepare_demo_store();

}  // namespace sekisho::daemon
