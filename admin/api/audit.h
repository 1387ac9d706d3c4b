// The audit log: one JSON line per change (who, what, when, before, after), appended to
// admin.audit_log, or to stderr when none is set. Opened per write so log rotation by rename
// needs no signal; writes are one write(2) of a whole line with O_APPEND, so lines never mix.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sekisho::admin {

class AuditLog {
 public:
  void set_path(std::string path) { path_ = std::move(path); }
  // Returns false (and logs why) when the line could not be written.
  bool record(const std::string& who, const std::string& source, const std::string& what, const std::string& tenant,
              const nlohmann::json& before, const nlohmann::json& after, int64_t now_us);

 private:
  std::string path_;
};

}  // namespace sekisho::admin
