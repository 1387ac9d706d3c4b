// "--name value" command lines for `sekisho device` and `sekisho profile`: every option takes a
// value, each at most once; anything else is a usage error with the offending word.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace sekisho::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// argv[0] is the subcommand word and is skipped.
inline std::map<std::string, std::string> parse_flags(int argc, char** argv, const std::set<std::string>& known) {
  std::map<std::string, std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!known.count(arg)) throw UsageError("unexpected argument '" + arg + "'");
    if (i + 1 >= argc) throw UsageError(arg + " needs a value");
    if (!out.emplace(arg, argv[++i]).second) throw UsageError(arg + " given twice");
  }
  return out;
}

inline const std::string& required(const std::map<std::string, std::string>& flags, const std::string& name) {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) throw UsageError(name + " is required");
  return it->second;
}

}  // namespace sekisho::cli
