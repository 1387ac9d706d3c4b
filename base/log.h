// One line per event on stderr, in a form journald keeps as-is:
//   <level> <component> msg="..." key=value ...
// Control-plane only (allocates); per-query facts belong in the query log, not here.
#pragma once

#include <atomic>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace sekisho::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };

struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  template <typename Int, typename = std::enable_if_t<std::is_arithmetic_v<Int>>>
  Field(std::string_view k, Int v) : key(k), value(std::to_string(v)) {}
};

void set_level(Level level);
Level level();
// Parses "debug" | "info" | "warning" | "error"; returns false for anything else.
bool parse_level(std::string_view text, Level& out);

void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});
// The same with fields made at run time (e.g. one per counter).
void write_fields(Level level, std::string_view component, std::string_view msg, std::span<const Field> fields);

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (level() <= Level::debug) write(Level::debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::info, c, m, f);
}
inline void warning(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::warning, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::error, c, m, f);
}

}  // namespace sekisho::log
