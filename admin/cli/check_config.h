// `sekisho check-config FILE`: the same loader sekishod uses at start-up and on reload.
#pragma once

namespace sekisho::cli {

// argv[0] == "check-config". Returns 0 when valid, 1 with every error printed, 2 on usage.
int run_check_config(int argc, char** argv);

}  // namespace sekisho::cli
