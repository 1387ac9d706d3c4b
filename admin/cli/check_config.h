// `sekisho check-config FILE`: the same loader sekishod uses at start-up and on reload.
#pragma once

#include <string>

namespace sekisho::cli {

// Returns 0 when valid, 1 with every error printed.
int run_check_config(const std::string& path);

}  // namespace sekisho::cli
