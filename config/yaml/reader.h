// The YAML walker the readers share: a typed reader that records the key path and each node's
// position, so every message points at the line the user has to fix. Unknown keys are errors:
// a typo must never silently fall back to a default.
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/source.h"

namespace sekisho::config {

// A key written twice in one mapping (YAML 1.2 §3.2.1.1: keys are unique). yaml-cpp accepts it,
// keeps both pairs and looks a key up by its first occurrence, so a second `policies:` block would
// be read as nothing at all. `key` is the later occurrence, `path` its key path, `first_line` the
// 1-based line of the first.
struct DuplicateKey {
  YAML::Node key;
  std::string path;
  int first_line = 0;
};
// Every duplicate scalar key in every mapping under `root`. A node reached again through an alias
// is walked once, so an alias bomb costs a visit per node written, not per path to it.
std::vector<DuplicateKey> duplicate_keys(const YAML::Node& root);

class Reader {
 public:
  Reader(std::string file, std::vector<ConfigError>& errors) : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Node& node, const std::string& path, const std::string& message) {
    ConfigError e;
    e.file = file_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      e.line = node.Mark().line + 1;
      e.column = node.Mark().column + 1;
    }
    e.path = path;
    e.message = message;
    errors_.push_back(std::move(e));
  }

  size_t error_count() const { return errors_.size(); }

  SourceMark mark(const YAML::Node& node) const {
    SourceMark m;
    m.file = file_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      m.line = node.Mark().line + 1;
      m.column = node.Mark().column + 1;
    }
    return m;
  }

  // A list of strings (a lone string is taken as a list of one).
  std::vector<std::pair<std::string, YAML::Node>> read_string_list(const YAML::Node& map, std::string_view key,
                                                                    const std::string& path) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return out;
    std::string p = join(path, key);
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar(), node);
      return out;
    }
    if (!node.IsSequence()) {
      error(node, p, "expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        error(node[i], index(p, i), "expected a string");
        continue;
      }
      out.emplace_back(node[i].Scalar(), node[i]);
    }
    return out;
  }

  bool read_bool(const YAML::Node& map, std::string_view key, const std::string& path, bool& out) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return false;
    const std::string& v = node.IsScalar() ? node.Scalar() : std::string();
    if (v == "true" || v == "yes" || v == "on") {
      out = true;
    } else if (v == "false" || v == "no" || v == "off") {
      out = false;
    } else {
      error(node, join(path, key), "expected true or false");
      return false;
    }
    return true;
  }

  // Reports keys of `map` not in `known`.
  void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> known) {
    check_keys(map, path, std::span<const std::string_view>(known.begin(), known.size()));
  }
  void check_keys(const YAML::Node& map, const std::string& path, std::span<const std::string_view> known) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      bool found = false;
      for (auto k : known) found = found || k == key;
      if (!found) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(kv.first, join(path, key), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  // Reports every key written twice in any mapping of the document (see DuplicateKey).
  void check_duplicate_keys(const YAML::Node& root) {
    for (const auto& d : duplicate_keys(root))
      error(d.key, d.path, "duplicate key (first written on line " + std::to_string(d.first_line) +
                               "; the later one would be ignored)");
  }

  bool expect_map(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    error(node, path, "expected a mapping");
    return false;
  }

  template <typename Int>
  void read_uint(const YAML::Node& map, std::string_view key, const std::string& path, Int& out, uint64_t min,
                 uint64_t max) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return;
    std::string p = join(path, key);
    if (!node.IsScalar()) {
      error(node, p, "expected a number");
      return;
    }
    const std::string& s = node.Scalar();
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      error(node, p, "'" + s + "' is not a whole number");
      return;
    }
    if (v < min || v > max) {
      error(node, p, std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
      return;
    }
    out = static_cast<Int>(v);
  }

  // The sub-mapping at `key`, when present: checked to be a mapping with only `known` keys, then
  // handed to `read` with its path. Absent is fine (the defaults stay).
  template <typename Read>
  void read_map(const YAML::Node& map, std::string_view key, const std::string& path,
                std::initializer_list<std::string_view> known, Read&& read) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined()) return;
    const std::string p = join(path, key);
    if (!expect_map(node, p)) return;
    check_keys(node, p, known);
    read(node, p);
  }

  // Each item of the list at map[key] with its path (nothing when the key is absent); anything
  // but a list there is reported as "expected a list of <what>". Returns whether a list was read.
  template <typename Item>
  bool read_list(const YAML::Node& map, std::string_view key, const std::string& path, std::string_view what,
                 Item&& item) {
    const YAML::Node list = map[std::string(key)];
    if (!list.IsDefined()) return false;
    const std::string p = join(path, key);
    if (!list.IsSequence()) {
      error(list, p, "expected a list of " + std::string(what));
      return false;
    }
    for (size_t i = 0; i < list.size(); ++i) item(list[i], index(p, i));
    return true;
  }

  // Each item of a list of mappings, checked like read_map; `what` names the list in the error
  // when `node` is not a list at all. An item that is not a mapping is reported and skipped.
  template <typename Read>
  void read_map_list(const YAML::Node& node, const std::string& path, std::string_view what,
                     std::span<const std::string_view> known, Read&& read) {
    if (!node.IsSequence()) {
      error(node, path, "expected a list of " + std::string(what));
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string ipath = index(path, i);
      if (!expect_map(item, ipath)) continue;
      check_keys(item, ipath, known);
      read(item, ipath);
    }
  }

  bool read_string(const YAML::Node& map, std::string_view key, const std::string& path, std::string& out) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return false;
    if (!node.IsScalar()) {
      error(node, join(path, key), "expected a string");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

 private:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

// "10.1.0.0/16", "2001:db8::/48", or a bare address (a host route), appended to `out`.
void read_network(Reader& r, const YAML::Node& node, const std::string& path, std::vector<NetworkSettings>& out);
// The list at map[key], each item read by read_network.
void read_network_list(Reader& r, const YAML::Node& map, std::string_view key, const std::string& path,
                       std::vector<NetworkSettings>& out);

}  // namespace sekisho::config
