// sekisho-intercept: flags, configuration, then the App. Every start-up error is printed with
// its context and exits non-zero, so systemd shows why.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "policy/configuration.h"
#include "intercept/app.h"
#include "base/log.h"

namespace {

constexpr const char* kUsage =
    "usage: sekisho-intercept --config FILE        serve block pages (and deep inspection) for FILE's tenants\n"
    "       sekisho-intercept --check-config FILE  validate FILE and print every error with its line\n"
    "       sekisho-intercept --version\n";

}  // namespace

int main(int argc, char** argv) {
  // A client that resets its connection while we write must cost that connection, not the
  // process: libuv writes with write(2), which raises SIGPIPE; the error comes back as EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c" || arg == "--check-config") && i + 1 < argc) {
      check_only = check_only || arg == "--check-config";
      config_path = argv[++i];
    } else if (arg == "--version") {
      std::printf("sekisho-intercept 0.1.0\n");
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "sekisho-intercept: unknown or incomplete argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "sekisho-intercept: --config FILE is required (it has no useful defaults)\n%s", kUsage);
    return 2;
  }
  auto loaded = sekisho::policy::load_configuration(config_path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) {
    std::fprintf(stderr, "sekisho-intercept: refusing to start with an invalid configuration (%zu error%s)\n",
                 loaded.errors.size(), loaded.errors.size() == 1 ? "" : "s");
    return 1;
  }
  if (check_only) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  sekisho::log::set_level(loaded.settings.log_level);
  try {
    sekisho::intercept::App app(std::move(loaded), config_path);
    return app.run();
  } catch (const std::exception& e) {
    sekisho::log::error("intercept", "cannot start", {{"error", e.what()}});
    return 1;
  }
}
