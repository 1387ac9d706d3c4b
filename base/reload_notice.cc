#include "base/reload_notice.h"

#include <systemd/sd-daemon.h>

namespace sekisho::base {

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
