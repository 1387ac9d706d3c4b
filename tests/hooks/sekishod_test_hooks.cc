// sekishod_test_hooks: sekishod with hooks the end-to-end tests need to provoke what a healthy
// process never does. Built only with the tests (tests/hooks/CMakeLists.txt), never installed;
// the production sekishod (daemon/main.cc) has none of this.
//
//   sekishod_test_hooks --config FILE     the same Daemon as `sekishod --config FILE`, plus:
//   SIGUSR2  event loop 0 sleeps SEKISHO_TEST_STALL_MS milliseconds (default 3000) on its own
//            thread, as a wedged loop would. It sends sd_notify "STATUS=test hook: loop 0 stalled"
//            when the sleep begins and "STATUS=test hook: loop 0 resumed" when it ends, so a test
//            can place the watchdog pings it receives before, during and after the stall.
//
// Send SIGUSR2 only after READY=1: the loops exist from then on.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "base/log.h"
#include "config/yaml/load.h"
#include "daemon/daemon.h"
#include "policy/configuration.h"
#include "resolver/worker.h"

namespace {

using namespace sekisho;

std::chrono::milliseconds stall_duration() {
  const char* text = std::getenv("SEKISHO_TEST_STALL_MS");
  return std::chrono::milliseconds(text ? std::strtoul(text, nullptr, 10) : 3000);
}

// Waits for SIGUSR2 (blocked in every thread, so only this one takes it) and posts the stall to
// loop 0 through the Worker's thread-safe task queue: the sleep runs on the loop's own thread.
void hook_thread(resolver::Engine& engine, const std::atomic<bool>& stop, sigset_t signals) {
  const auto stall = stall_duration();
  while (!stop.load()) {
    timespec tick{0, 100 * 1000 * 1000};
    if (sigtimedwait(&signals, nullptr, &tick) != SIGUSR2) continue;
    const auto& workers = engine.workers();
    if (workers.empty()) continue;
    log::warning("test-hook", "stalling event loop 0", {{"ms", static_cast<uint64_t>(stall.count())}});
    workers[0]->post_task([stall] {
      sd_notify(0, "STATUS=test hook: loop 0 stalled");
      std::this_thread::sleep_for(stall);
      sd_notify(0, "STATUS=test hook: loop 0 resumed");
      log::warning("test-hook", "event loop 0 resumed");
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // as sekishod does
  if (argc != 3 || std::string(argv[1]) != "--config") {
    std::fprintf(stderr, "usage: sekishod_test_hooks --config FILE\n");
    return 2;
  }
  const std::string config_path = argv[2];
  // Before any thread exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto source = std::make_unique<config::YamlFileSource>(config_path);
  auto loaded = policy::load_configuration(*source);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  log::set_level(loaded.settings.log_level);
  try {
    daemon::Daemon daemon(std::move(source), std::move(loaded));
    std::atomic<bool> stop{false};
    std::thread hooks(hook_thread, std::ref(daemon.engine()), std::cref(stop), signals);
    struct Join {  // also when run() throws (a socket that does not bind)
      std::atomic<bool>& stop;
      std::thread& thread;
      ~Join() {
        stop.store(true);
        thread.join();
      }
    } join{stop, hooks};
    return daemon.run();
  } catch (const std::exception& e) {
    log::error("server", "cannot start", {{"error", e.what()}});
    return 1;
  }
}
