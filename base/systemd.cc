#include "base/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace sekisho::base {

std::string state_directory(std::string_view sub) {
  const char* state = std::getenv("STATE_DIRECTORY");
  if (!state || !*state) return {};
  // systemd separates several directories with ':'; ours is the first.
  std::string dir(state);
  dir.resize(dir.find(':') == std::string::npos ? dir.size() : dir.find(':'));
  if (dir.empty()) return {};
  dir += '/';
  dir += sub;
  return dir;
}

ReloadNotice::ReloadNotice() { sd_notify(0, "RELOADING=1"); }

ReloadNotice::~ReloadNotice() {
  if (!done_) sd_notify(0, "READY=1\nSTATUS=reload failed; previous configuration in use");
}

void ReloadNotice::succeeded() {
  if (done_) return;
  done_ = true;
  sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
}

}  // namespace sekisho::base
