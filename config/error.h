// Where a setting was written, and a problem found in it. Every source reports all of its
// problems (not just the first), with where they are, so `check-config`, start-up and reload
// agree; the compile step (cross-references, unknown categories) reports file:line from the
// settings' marks like the reader does.
#pragma once

#include <string>

namespace sekisho::config {

struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
  bool operator==(const SourceMark&) const = default;
};

// One problem: "file:line:col: path: message".
struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string path;  // e.g. "server.listen.dns[1]"
  std::string message;

  std::string to_string() const;
};

}  // namespace sekisho::config
