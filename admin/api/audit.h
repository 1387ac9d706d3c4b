// The audit log: one JSON line per change (who, what, when, from where, before, after, and the
// outcome), appended to admin.audit_log, or to stderr when none is set. Written by the admin API,
// by sekishod for reloads by SIGHUP, and by the `sekisho` commands that change something. Opened per write so log rotation by rename
// needs no signal; writes are one write(2) of a whole line with O_APPEND, so lines never mix.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sekisho::admin {

class AuditLog {
 public:
  void set_path(std::string path) { path_ = std::move(path); }
  // Returns false (and logs why) when the line could not be written. `outcome` is "ok" or what
  // went wrong ("refused: …"): a refused change is worth as much to an auditor as a made one.
  bool record(const std::string& who, const std::string& source, const std::string& what, const std::string& tenant,
              const nlohmann::json& before, const nlohmann::json& after, const std::string& outcome, int64_t now_us);

 private:
  std::string path_;
};

}  // namespace sekisho::admin
