// `sekisho`: the administrator's command line. One subcommand per file in admin/cli/.
#include <cstdio>
#include <cstring>

#include "admin/cli/admin_token.h"
#include "admin/cli/ca.h"
#include "admin/cli/check_config.h"
#include "admin/cli/db.h"
#include "admin/cli/device.h"
#include "admin/cli/profile.h"

namespace {

constexpr const char* kUsage =
    "usage: sekisho <command> [args]\n"
    "  check-config FILE       validate a sekishod configuration\n"
    "  db <subcommand> ...     manage the category store (sekisho db --help)\n"
    "  ca init|export ...      inspection CAs for sekisho-intercept (sekisho ca --help)\n"
    "  admin token --role R    make an admin API token (sekisho admin token --help)\n"
    "  device add|list|revoke  a tenant's DoH/DoT devices (sekisho device --help)\n"
    "  profile apple|android   device profiles: .mobileconfig, Private DNS name (sekisho profile --help)\n"
    "  version\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const char* command = argv[1];
  if (std::strcmp(command, "check-config") == 0) return sekisho::cli::run_check_config(argc - 1, argv + 1);
  if (std::strcmp(command, "db") == 0) return sekisho::cli::run_db(argc - 1, argv + 1, argv);
  if (std::strcmp(command, "ca") == 0) return sekisho::cli::run_ca(argc - 1, argv + 1);
  if (std::strcmp(command, "admin") == 0) return sekisho::cli::run_admin(argc - 1, argv + 1);
  if (std::strcmp(command, "device") == 0) return sekisho::cli::run_device(argc - 1, argv + 1);
  if (std::strcmp(command, "profile") == 0) return sekisho::cli::run_profile(argc - 1, argv + 1);
  if (std::strcmp(command, "version") == 0) {
    std::printf("sekisho 0.1.0\n");
    return 0;
  }
  if (std::strcmp(command, "--help") == 0 || std::strcmp(command, "help") == 0) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "sekisho: unknown command '%s'\n%s", command, kUsage);
  return 2;
}
