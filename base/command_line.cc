// base/command_line.cc — see command_line.h.
#include "base/command_line.h"

#include <iostream>

#include "base/version.h"

namespace sekisho::command_line {

Program::Program(const std::string& name, const std::string& description) : app_(description, name) {
  app_.set_help_flag("-h,--help", "print this help and exit");  // subcommands added later inherit it
  app_.set_version_flag("--version", name + " " + kVersion, "print the version and exit");
}

void Program::expect_subcommand(CLI::App& app, std::string noun) {
  // At most one: a second subcommand word (`sekisho db stats lookup`) is an unexpected argument.
  app.require_subcommand(0, 1);
  // Silent and in no group: not listed, never chosen(), so help() shows `app` itself.
  app.add_subcommand("help", "")->group("")->silent()->immediate_callback()->callback([] {
    throw CLI::CallForHelp();
  });
  expecting_.emplace_back(&app, std::move(noun));
}

CLI::App* Program::chosen(const CLI::App& app) {
  const auto subcommands = app.get_subcommands();  // the parsed ones, silent ones left out
  return subcommands.empty() ? nullptr : subcommands.front();
}

std::string Program::command_path() const {
  std::string path = app_.get_name();
  for (const CLI::App* app = chosen(app_); app; app = chosen(*app)) path += " " + app->get_name();
  return path;
}

int Program::usage_error(const std::string& message, bool with_help) {
  const std::string path = command_path();
  std::cerr << path << ": " << message << "\n";
  if (with_help) std::cerr << app_.help();  // delegates to the chosen subcommands: the deepest one's
  else std::cerr << "Run '" << path << " --help' for more information.\n";
  return kUsageStatus;
}

std::optional<int> Program::parse(int argc, const char* const* argv) {
  // Extra words are kept (not thrown) where a subcommand goes, so that they can be named below.
  // Set only now: subcommands inherit allow_extras from their parent when they are added.
  for (auto& [app, noun] : expecting_) app->allow_extras();
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app_.exit(e);  // --help, --version: stdout
    return usage_error(e.what());
  }
  for (auto& [app, noun] : expecting_) {
    if (app != &app_ && !app->parsed()) continue;
    const std::vector<std::string> extra = app->remaining();
    if (chosen(*app)) {
      if (!extra.empty()) return usage_error("unexpected argument '" + extra.front() + "'");
      continue;
    }
    if (extra.empty()) return usage_error("missing " + noun, true);
    if (extra.front().starts_with("-")) return usage_error("unknown option '" + extra.front() + "'");
    std::string known;
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); }))
      known += (known.empty() ? "" : ", ") + sub->get_name();
    return usage_error("unknown " + noun + " '" + extra.front() + "' (one of: " + known + ")");
  }
  return std::nullopt;
}

int Program::run(const std::function<int()>& command) {
  try {
    return command();
  } catch (const UsageError& e) {
    return usage_error(e.what());
  }
}

}  // namespace sekisho::command_line
