#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "base/text.h"

namespace sekisho::base {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A name no other writer uses (pid + 64 random bits, created O_EXCL), hidden and without the
// file's extension.
std::string temporary_name(const std::string& path) {
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce)) nonce = static_cast<uint64_t>(::getpid());
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".tmp-%d-%016llx", static_cast<int>(::getpid()), static_cast<unsigned long long>(nonce));
  const size_t slash = path.rfind('/');
  const size_t name = slash == std::string::npos ? 0 : slash + 1;
  return path.substr(0, name) + "." + path.substr(name) + suffix;
}

}  // namespace

size_t remove_abandoned_temporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {
    // ".<name>.tmp-<pid>-<16 hex digits>", as temporary_name() writes it.
    const std::string_view name = e->d_name;
    const size_t tmp = name.rfind(".tmp-");
    if (name.size() < 2 || name[0] != '.' || tmp == std::string_view::npos || tmp == 0) continue;
    const std::string_view rest = name.substr(tmp + 5);
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string_view::npos || rest.size() - dash - 1 != 16) continue;
    long pid = 0;
    bool digits = dash <= 9;
    for (char c : rest.substr(0, dash)) {
      digits = digits && c >= '0' && c <= '9';
      pid = pid * 10 + (c - '0');
    }
    for (char c : rest.substr(dash + 1)) digits = digits && hex_value(c) >= 0;
    if (!digits || pid <= 0) continue;
    // EPERM: the process exists under another user: alive.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

std::string make_directories(const std::string& dir, mode_t mode) {
  if (dir.empty()) return "cannot create a directory with an empty name";
  // Each prefix ending before a '/', then the whole: mkdir(2) of one that exists fails with EEXIST.
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const bool last = slash == std::string::npos || slash == dir.size() - 1;
    const std::string part = last ? dir : dir.substr(0, slash);
    if (::mkdir(part.c_str(), last ? mode : 0755) != 0 && errno != EEXIST) return errno_text("cannot create " + part, errno);
    if (last) break;
  }
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) return errno_text("cannot create " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return "cannot create " + dir + ": a file of that name exists";
  return "";
}

std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {  // not expected from a regular file; reported rather than looped on
      errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string write_file_atomically(const std::string& path, std::string_view bytes, const AtomicWrite& how) {
  const std::string tmp = temporary_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, how.mode);
  if (fd < 0) return errno_text("cannot create " + tmp, errno);
  std::string error;
  if (!how.umask_narrows && ::fchmod(fd, how.mode) != 0) error = errno_text("cannot set the mode of " + tmp, errno);
  if (error.empty() && (how.uid || how.gid) &&
      ::fchown(fd, how.uid.value_or(static_cast<uid_t>(-1)), how.gid.value_or(static_cast<gid_t>(-1))) != 0)
    error = errno_text("cannot set the owner of " + tmp, errno);
  if (error.empty() && !write_all(fd, bytes)) error = errno_text("cannot write " + tmp, errno);
  if (error.empty() && ::fsync(fd) != 0) error = errno_text("cannot sync " + tmp, errno);
  if (::close(fd) != 0 && error.empty()) error = errno_text("cannot close " + tmp, errno);
  if (error.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) error = errno_text("cannot rename " + tmp + " to " + path, errno);
  if (!error.empty()) {
    ::unlink(tmp.c_str());
    return error;
  }
  const std::string dir = directory_of(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errno_text("wrote " + path + " but cannot open its directory to sync it", errno);
  const bool synced = ::fsync(dir_fd) == 0;
  const int err = errno;
  ::close(dir_fd);
  if (!synced) return errno_text("wrote " + path + " but cannot sync its directory", err);
  return {};
}

}  // namespace sekisho::base
