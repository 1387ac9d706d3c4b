#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "base/systemd.h"
#include "tests/unit/temp_dir.h"

using sekisho::base::ReloadNotice;
using sekisho::test::TempDir;

namespace {

// A notify socket like systemd's, named by NOTIFY_SOCKET for the test's duration.
struct NotifySocket {
  TempDir dir;
  int fd = -1;
  NotifySocket() {
    const std::string path = (dir.path / "notify").string();
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path.c_str(), path.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd);
  }
  std::string next() {
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
};

}  // namespace

TEST_SUITE("base.systemd.reload") {

TEST_CASE("a reload that succeeds: RELOADING=1, then READY=1 saying so, once") {
  NotifySocket s;
  {
    ReloadNotice notice;
    CHECK(s.next() == "RELOADING=1");
    notice.succeeded();
    CHECK(s.next() == "READY=1\nSTATUS=configuration reloaded");
  }
  CHECK(s.next().empty());
}

TEST_CASE("a reload that ends without success, returning or throwing, reports the failure") {
  NotifySocket s;
  { ReloadNotice notice; }
  CHECK(s.next() == "RELOADING=1");
  CHECK(s.next() == "READY=1\nSTATUS=reload failed; previous configuration in use");
  try {
    ReloadNotice notice;
    throw std::runtime_error("store gone");
  } catch (const std::runtime_error&) {
  }
  CHECK(s.next() == "RELOADING=1");
  CHECK(s.next() == "READY=1\nSTATUS=reload failed; previous configuration in use");
}

}

TEST_SUITE("base.systemd") {

TEST_CASE("state_directory: the first of systemd's directories, or nothing outside systemd") {
  ::unsetenv("STATE_DIRECTORY");
  CHECK(sekisho::base::state_directory("stats") == "");
  ::setenv("STATE_DIRECTORY", "", 1);
  CHECK(sekisho::base::state_directory("stats") == "");
  ::setenv("STATE_DIRECTORY", "/var/lib/sekisho", 1);
  CHECK(sekisho::base::state_directory("querylog") == "/var/lib/sekisho/querylog");
  ::setenv("STATE_DIRECTORY", "/var/lib/sekisho:/var/lib/other", 1);
  CHECK(sekisho::base::state_directory("certs") == "/var/lib/sekisho/certs");
  ::unsetenv("STATE_DIRECTORY");
}

}
