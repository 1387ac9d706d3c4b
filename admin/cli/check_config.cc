#include "admin/cli/check_config.h"

#include <cstdio>

#include "policy/configuration.h"

namespace sekisho::cli {

int run_check_config(const std::string& path) {
  auto loaded = policy::load_configuration(path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

}  // namespace sekisho::cli
