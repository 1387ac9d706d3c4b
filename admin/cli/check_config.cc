#include "admin/cli/check_config.h"

#include <cstdio>

#include "policy/configuration.h"

namespace sekisho::cli {

int run_check_config(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sekisho check-config FILE\n");
    return 2;
  }
  auto loaded = policy::load_configuration(argv[1]);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  std::printf("%s: ok\n", argv[1]);
  return 0;
}

}  // namespace sekisho::cli
