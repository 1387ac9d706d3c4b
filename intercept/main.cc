// sekisho-intercept: the command line (base/command_line.h), the configuration, then the App.
// Every start-up error is printed with its context and exits non-zero, so systemd shows why.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "policy/configuration.h"
#include "intercept/app.h"
#include "base/command_line.h"
#include "base/log.h"

int main(int argc, char** argv) {
  // A client that resets its connection while we write must cost that connection, not the
  // process: libuv writes with write(2), which raises SIGPIPE; the error comes back as EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  sekisho::command_line::Program program(
      "sekisho-intercept", "sekisho's block pages over HTTP and HTTPS, and deep inspection, for FILE's tenants.");
  std::string config_path, check_path;
  program.app().add_option("-c,--config", config_path, "serve for this configuration")->type_name("FILE");
  const CLI::Option* check =
      program.app()
          .add_option("--check-config", check_path, "validate FILE, print every error with its line, and exit")
          ->type_name("FILE");
  if (auto done = program.parse(argc, argv)) return *done;
  if (check->count() > 0) return sekisho::policy::run_check_config(check_path);
  if (config_path.empty()) return program.usage_error("--config FILE is required (it has no useful defaults)");
  auto loaded = sekisho::policy::load_configuration(config_path);
  if (!sekisho::policy::ready_to_start(loaded, "sekisho-intercept")) return 1;
  sekisho::log::set_level(loaded.settings.log_level);
  try {
    sekisho::intercept::App app(std::move(loaded), config_path);
    return app.run();
  } catch (const std::exception& e) {
    sekisho::log::error("intercept", "cannot start", {{"error", e.what()}});
    return 1;
  }
}
