#include "admin/api/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "policy/querylog/format.h"
#include "base/log.h"

namespace sekisho::admin {

bool AuditLog::record(const std::string& who, const std::string& source, const std::string& what,
                      const std::string& tenant, const nlohmann::json& before, const nlohmann::json& after,
                      const std::string& outcome, int64_t now_us) {
  std::string time;
  querylog::append_time(time, now_us);
  nlohmann::json line = {{"time", time}, {"who", who},        {"source", source},
                         {"what", what}, {"tenant", tenant}, {"before", before},
                         {"after", after}, {"outcome", outcome}};
  // Invalid UTF-8 from a request must not make dump() throw: replace it.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (path_.empty()) {
    log::info("audit", text.substr(0, text.size() - 1));
    return true;
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    log::error("audit", "cannot open the audit log", {{"path", path_}, {"error", std::strerror(errno)}});
    return false;
  }
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    log::error("audit", "cannot write the audit log", {{"path", path_}, {"error", n < 0 ? std::strerror(err) : "short write"}});
    return false;
  }
  return true;
}

}  // namespace sekisho::admin
