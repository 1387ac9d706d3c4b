// sekishod: parse the command line (base/command_line.h), read the configuration source, run
// the Daemon (daemon.h). Every start-up error is printed with its context and makes the process
// exit non-zero, so systemd shows why.
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "base/command_line.h"
#include "base/log.h"
#include "config/fleet/source.h"
#include "config/yaml/load.h"
#include "daemon/daemon.h"
#include "daemon/demo_data.h"
#include "policy/configuration.h"

int main(int argc, char** argv) {
  // A client that resets its connection while we write must cost that connection, not the
  // process: libuv writes with write(2), which raises SIGPIPE; the error comes back as EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  sekisho::command_line::Program program("sekishod", "sekisho's filtering DNS resolver (DNS, DoT, DoH).");
  std::string config_path, check_path;
  program.app()
      .add_option("-c,--config", config_path, "run with this configuration (without: embedded defaults, demo data)")
      ->type_name("FILE");
  const CLI::Option* check =
      program.app()
          .add_option("--check-config", check_path, "validate FILE, print every error with its line, and exit")
          ->type_name("FILE");
  if (auto done = program.parse(argc, argv)) return *done;
  if (check->count() > 0) return sekisho::policy::run_check_config(check_path);

  std::unique_ptr<sekisho::config::ConfigSource> source;
  if (config_path.empty()) source = std::make_unique<sekisho::config::EmbeddedDefaultsSource>();
  else source = std::make_unique<sekisho::config::YamlFileSource>(config_path);
  auto loaded = sekisho::policy::load_configuration(*source);
  if (!sekisho::policy::ready_to_start(loaded, "sekishod")) return 1;
  if (loaded.settings.fleet.enabled()) {
    // A fleet node: the tenants come from the database (or its last snapshot), read afresh.
    sekisho::log::set_level(loaded.settings.log_level);
    auto state = std::make_shared<sekisho::config::fleet::FleetState>(loaded.settings.fleet, config_path);
    if (std::string why = sekisho::config::fleet::load_initial_snapshot(*state); !why.empty()) {
      sekisho::log::error("fleet", "cannot start", {{"error", why}});
      std::fprintf(stderr, "sekishod: refusing to start: %s\n", why.c_str());
      return 1;
    }
    source = std::make_unique<sekisho::config::fleet::FleetSource>(std::move(state));
    loaded = sekisho::policy::load_configuration(*source);
    if (!sekisho::policy::ready_to_start(loaded, "sekishod")) return 1;
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
