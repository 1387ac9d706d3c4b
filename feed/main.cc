// sekisho-feed: keeps the category store's feeds current (feed/service.h). The command line
// (base/command_line.h), the configuration (the same file as sekishod's), then the service.
// Every start-up error is printed with its context and exits non-zero, so systemd shows why.
#include <systemd/sd-daemon.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "base/command_line.h"
#include "base/log.h"
#include "feed/service.h"
#include "policy/import/huge_pages.h"
#include "policy/configuration.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_stop(int) { stop_requested = 1; }

}  // namespace

int main(int argc, char** argv) {
  // A transfer of a million names maps, sorts and writes a few hundred MB of fresh heap and LMDB
  // dirty pages; on 4 KiB pages their faults were a fifth of an AXFR's time (bench/feed).
  sekisho::policy::reexec_with_huge_page_malloc(argv);
  std::signal(SIGPIPE, SIG_IGN);  // a primary that resets the connection costs that transfer only
  sekisho::command_line::Program program(
      "sekisho-feed", "keeps the category store's feeds (feeds: in FILE) current: RPZ by zone transfer, with NOTIFY.");
  std::string config_path;
  bool once = false;
  std::string check_path;
  program.app().add_option("-c,--config", config_path, "the configuration (sekishod's)")->type_name("FILE");
  program.app().add_flag("--once", once, "refresh every feed once and exit (non-zero if any failed)");
  // The same check as sekishod's and sekisho-intercept's (the unit's ExecStartPre runs it).
  const CLI::Option* check =
      program.app()
          .add_option("--check-config", check_path, "validate FILE, print every error with its line, and exit")
          ->type_name("FILE");
  if (auto done = program.parse(argc, argv)) return *done;
  if (check->count() > 0) return sekisho::policy::run_check_config(check_path);
  if (config_path.empty()) return program.usage_error("--config is required");
  auto loaded = sekisho::policy::load_configuration(config_path);
  if (!sekisho::policy::ready_to_start(loaded, "sekisho-feed")) return 1;
  sekisho::log::set_level(loaded.settings.log_level);
  try {
    sekisho::feed::FeedService service(loaded.settings);
    if (once) return service.run_once() == 0 ? 0 : 1;
    // No SA_RESTART: poll(2) returns EINTR and the loop sees the flag at once.
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    service.run(stop_requested, [&] {
      sekisho::log::info("feed", "started", {{"feeds", loaded.settings.feeds.size()},
                                             {"notify_listeners", loaded.settings.feed_service.notify_listen.size()}});
      sd_notifyf(0, "READY=1\nSTATUS=keeping %zu feed(s) current\nMAINPID=%lu", loaded.settings.feeds.size(),
                 static_cast<unsigned long>(getpid()));
    });
    sd_notify(0, "STOPPING=1");
    return 0;
  } catch (const std::exception& e) {
    sekisho::log::error("feed", "cannot start", {{"error", e.what()}});
    return 1;
  }
}
