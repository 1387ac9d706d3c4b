#include "base/file.h"

#include <fcntl.h>
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
