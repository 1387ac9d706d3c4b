// `sekisho profile apple|android`: what a device needs to use its tenant's DNS filtering over
// DoH (Apple .mobileconfig) or DoT (Android Private DNS host name).
#pragma once

namespace sekisho::cli {

// argv[0] == "profile". Returns 0 ok, 1 failed (reason on stderr), 2 usage error.
int run_profile(int argc, char** argv);

}  // namespace sekisho::cli
