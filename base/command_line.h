// base/command_line.h — the one command-line parser of sekishod, sekisho-intercept and sekisho:
// CLI11 (libcli11-dev) with the conventions the three programs share.
//
// Every command and subcommand has a generated -h/--help; an option takes its value as `--x y`
// or `--x=y`; each program answers --version with "<program> <version>" (base/version.h, from
// CMake's project VERSION). Bad usage is reported on stderr as "<command>: <what>" with where
// help is, and exit status 2; --help and --version print on stdout and exit 0.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/usage_error.h"

namespace sekisho::command_line {

inline constexpr int kUsageStatus = 2;

class Program {
 public:
  Program(const std::string& name, const std::string& description);

  CLI::App& app() { return app_; }

  // Makes `app` (the program or one of its subcommands) take a subcommand, called `noun` in
  // errors: none given prints its help on stderr (exit 2), an unknown word is "unknown <noun>
  // 'x' (one of: …)", and the word `help` in its place prints its help (`sekisho db help`).
  // Call it before adding app's subcommands, which must not inherit its handling of extras.
  void expect_subcommand(CLI::App& app, std::string noun = "command");

  // Parses argv. Returns the exit status when the program is done: 0 after --help or --version,
  // kUsageStatus after a usage error; nullopt when the chosen command should run.
  std::optional<int> parse(int argc, const char* const* argv);

  // Runs the chosen command; a UsageError it throws is reported like a parse error.
  int run(const std::function<int()>& command);

  // Reports a usage problem found after parsing, naming the chosen command; returns kUsageStatus.
  // With `with_help`, that command's help follows on stderr.
  int usage_error(const std::string& message, bool with_help = false);

  // The subcommand chosen under `app`, or null (the hidden `help` word never counts).
  static CLI::App* chosen(const CLI::App& app);

 private:
  std::string command_path() const;

  CLI::App app_;
  std::vector<std::pair<CLI::App*, std::string>> expecting_;  // apps that take a subcommand, and its noun
};

}  // namespace sekisho::command_line
