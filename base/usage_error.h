// base/usage_error.h — a usage problem a command finds after its command line was parsed (a
// missing or contradictory option, an unknown format name). command_line::Program reports it
// as it reports the parser's own errors, with exit status 2. Apart from command_line.h so that
// commands throwing it need not include the parser.
#pragma once

#include <stdexcept>
#include <string>

namespace sekisho::command_line {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A required option's value: given as "" it is as missing as not given at all.
inline const std::string& required(const std::string& value, const std::string& option) {
  if (value.empty()) throw UsageError(option + " is required");
  return value;
}

}  // namespace sekisho::command_line
