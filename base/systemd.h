// What systemd gives a service and expects from it (both units are Type=notify): the
// StateDirectory= it made for us, and the reload sequence on the notify socket (sd_notify(3)).
// One definition for sekishod and sekisho-intercept, so that `systemctl reload` and the tests
// that watch the notify socket read the same words from both.
#pragma once

#include <string>
#include <string_view>

namespace sekisho::base {

// $STATE_DIRECTORY + "/" + `sub` (the first directory when StateDirectory= lists several);
// "" when not run by systemd with a StateDirectory=.
std::string state_directory(std::string_view sub);

// Sends RELOADING=1 when made. succeeded() sends READY=1 with "STATUS=configuration reloaded";
// a reload that ends any other way (an invalid configuration, an exception) sends READY=1 with
// "STATUS=reload failed; previous configuration in use" when the notice goes out of scope, so
// the service never stays "reloading". Outside systemd (no NOTIFY_SOCKET) nothing is sent.
class ReloadNotice {
 public:
  ReloadNotice();
  ~ReloadNotice();
  ReloadNotice(const ReloadNotice&) = delete;
  ReloadNotice& operator=(const ReloadNotice&) = delete;

  void succeeded();

 private:
  bool done_ = false;
};

}  // namespace sekisho::base
