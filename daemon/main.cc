// sekishod: parse flags, read the configuration source, run the Daemon (daemon.h). Every
// start-up error is printed with its context and makes the process exit non-zero, so systemd
// shows why.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "base/log.h"
#include "config/yaml/load.h"
#include "daemon/daemon.h"
#include "daemon/demo_data.h"
#include "policy/configuration.h"

namespace {

constexpr const char* kUsage =
    "usage: sekishod [--config FILE]     run the resolver (embedded defaults without --config)\n"
    "       sekishod --check-config FILE validate FILE and print every error with its line\n"
    "       sekishod --version\n";

int check_config(const std::string& path) {
  auto loaded = sekisho::policy::load_configuration(path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A client that resets its connection while we write must cost that connection, not the
  // process: libuv writes with write(2), which raises SIGPIPE; the error comes back as EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config" && i + 1 < argc) {
      return check_config(argv[i + 1]);
    } else if (arg == "--version") {
      std::printf("sekishod 0.1.0\n");
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "sekishod: unknown or incomplete argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }

  std::unique_ptr<sekisho::config::ConfigSource> source;
  if (config_path.empty()) source = std::make_unique<sekisho::config::EmbeddedDefaultsSource>();
  else source = std::make_unique<sekisho::config::YamlFileSource>(config_path);
  auto loaded = sekisho::policy::load_configuration(*source);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "sekishod: refusing to start with an invalid configuration (%zu error%s)\n",
                 loaded.errors.size(), loaded.errors.size() == 1 ? "" : "s");
    return 1;
  }
  sekisho::log::set_level(loaded.settings.log_level);
  if (config_path.empty()) {
    // Without the demo store the embedded defaults still resolve; they just filter nothing.
    try {
      loaded.settings.category_db = sekisho::daemon::prepare_demo_store();
      sekisho::log::info("demo", "embedded defaults: demo category data loaded", {{"store", loaded.settings.category_db}});
    } catch (const std::exception& e) {
      sekisho::log::warning("demo", "demo category data unavailable; filtering nothing", {{"error", e.what()}});
    }
  }
  try {
    sekisho::daemon::Daemon daemon(std::move(source), std::move(loaded));
    return daemon.run();
  } catch (const std::exception& e) {
    sekisho::log::error("server", "cannot start", {{"error", e.what()}});
    return 1;
  }
}
