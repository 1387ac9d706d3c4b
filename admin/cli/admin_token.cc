#include "admin/cli/admin_token.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "admin/api/token.h"

namespace sekisho::cli {
namespace {

constexpr const char* kUsage =
    "usage: sekisho admin token --role operator|tenant-admin [--tenant ID] [--name NAME]\n"
    "  prints a new token (shown once; give it to its holder) and the admin.tokens entry\n"
    "  to paste into the configuration, which stores only the token's SHA-256\n";

}  // namespace

int run_admin(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "token") != 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string role, tenant, name;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--role" || arg == "--tenant" || arg == "--name") && i + 1 < argc) {
      (arg == "--role" ? role : arg == "--tenant" ? tenant : name) = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "sekisho admin token: unexpected '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (role != "operator" && role != "tenant-admin") {
    std::fprintf(stderr, "sekisho admin token: --role must be operator or tenant-admin\n");
    return 2;
  }
  if (role == "tenant-admin" && tenant.empty()) {
    std::fprintf(stderr, "sekisho admin token: a tenant-admin token needs --tenant ID\n");
    return 2;
  }
  if (role == "operator" && !tenant.empty()) {
    std::fprintf(stderr, "sekisho admin token: an operator token covers every tenant; drop --tenant\n");
    return 2;
  }
  if (name.empty()) name = role == "operator" ? "operator" : tenant + "-admin";
  if (name.find_first_of("\"\\\n") != std::string::npos || tenant.find_first_of("\"\\\n") != std::string::npos) {
    std::fprintf(stderr, "sekisho admin token: --name and --tenant may not contain quotes, backslashes or newlines\n");
    return 2;
  }
  const std::string token = admin::new_token();
  std::printf("token: %s\n", token.c_str());
  std::printf("# admin.tokens entry:\n");
  std::printf("  - {name: \"%s\", role: %s%s%s%s, sha256: %s}\n", name.c_str(), role.c_str(),
              tenant.empty() ? "" : ", tenant: \"", tenant.c_str(), tenant.empty() ? "" : "\"",
              admin::sha256_hex(token).c_str());
  return 0;
}

}  // namespace sekisho::cli
