// Writes whole lines with one write(2) so lines from several threads never interleave.
#include "base/log.h"

#include <unistd.h>

namespace sekisho::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};

constexpr std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warning, Level::error}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level l, std::string_view component, std::string_view msg, std::initializer_list<Field> fields) {
  write_fields(l, component, msg, std::span<const Field>(fields.begin(), fields.size()));
}

void write_fields(Level l, std::string_view component, std::string_view msg, std::span<const Field> fields) {
  if (static_cast<int>(l) < g_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128);
  line += level_name(l);
  line += ' ';
  line += component;
  line += " msg=";
  append_value(line, msg);
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_value(line, f.value);
  }
  line += '\n';
  // A short write to stderr is not worth retrying: logging must never stall the caller.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace sekisho::log
