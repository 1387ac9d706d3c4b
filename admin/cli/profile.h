// `sekisho profile apple|android`: what a device needs to use its tenant's DNS filtering over
// DoH (Apple .mobileconfig) or DoT (Android Private DNS host name). The command line is
// declared in admin/cli/main.cc.
#pragma once

#include <string>

namespace sekisho::cli {

struct ProfileArgs {
  std::string kind;  // apple | android
  std::string config, tenant, device;
  std::string ca_cert, sign_cert, sign_key, output;  // apple only; empty when not given
};

// Returns 0 ok, 1 failure (reason on stderr); a usage problem throws command_line::UsageError.
int run_profile(const ProfileArgs& args);

}  // namespace sekisho::cli
