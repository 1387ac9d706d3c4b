// admin/cli/ca.h — `sekisho ca init|export`: the inspection CAs of sekisho-intercept.
#pragma once

namespace sekisho::cli {

// argv[0] == "ca". Returns 0 ok, 1 failure (message with the path on stderr), 2 usage error.
int run_ca(int argc, char** argv);

}  // namespace sekisho::cli
