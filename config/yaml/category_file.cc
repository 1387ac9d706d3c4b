// YAML and CSV categories files → rows → checked definitions (config/categories.h).
#include "config/yaml/category_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/text.h"
#include "config/yaml/reader.h"

namespace sekisho::config {
namespace {

void read_yaml(const std::string& path, CategoryChecker& c, std::vector<CategoryDefinition>& out) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    c.error(path, e.mark.line + 1, "YAML syntax error: " + e.msg);
    return;
  } catch (const YAML::Exception& e) {
    c.error(path, 0, std::string("cannot read: ") + e.what());
    return;
  }
  if (root.IsNull()) return;
  for (const auto& d : duplicate_keys(root))
    c.error(path, d.key.Mark().line + 1,
            d.path + ": duplicate key (first written on line " + std::to_string(d.first_line) + ")");
  if (!root.IsMap() || !root["categories"].IsDefined()) {
    c.error(path, root.Mark().line + 1, "expected a mapping with a 'categories' list");
    return;
  }
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it->first.as<std::string>() != "categories")
      c.error(path, it->first.Mark().line + 1, "unknown key '" + it->first.as<std::string>() + "'");
  YAML::Node list = root["categories"];
  if (list.IsNull()) return;
  if (!list.IsSequence()) {
    c.error(path, list.Mark().line + 1, "'categories' must be a list");
    return;
  }
  for (const YAML::Node& item : list) {
    const int line = item.Mark().line + 1;
    if (!item.IsMap()) {
      c.error(path, line, "a category must be a mapping with id, slug, group, en, ja");
      continue;
    }
    CategoryRow r;
    r.mark = SourceMark{path, line, 0};
    bool ok = true;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.as<std::string>();
      std::optional<std::string>* field = key == "id"      ? &r.id
                                          : key == "slug"  ? &r.slug
                                          : key == "group" ? &r.group
                                          : key == "kind"  ? &r.kind
                                          : key == "en"    ? &r.en
                                          : key == "ja"    ? &r.ja
                                                           : nullptr;
      if (!field) {
        c.error(path, it->first.Mark().line + 1, "unknown key '" + key + "' (expected id, slug, group, kind, en, ja)");
        ok = false;
      } else if (!it->second.IsScalar()) {
        c.error(path, it->second.Mark().line + 1, "'" + key + "' must be a single value");
        ok = false;
      } else {
        *field = it->second.Scalar();
      }
    }
    if (!ok) continue;
    if (auto d = c.check(r)) out.push_back(std::move(*d));
  }
}

// RFC 4180 fields: separated by commas, optionally "quoted" with "" for a quote.
bool split_csv(const std::string& line, std::vector<std::string>& fields, std::string& why) {
  fields.assign(1, std::string());
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) why = "unterminated quoted field";
  return !quoted;
}

std::string trim(const std::string& s) { return std::string(base::trim(s, " \t\r")); }

void read_csv(const std::string& path, CategoryChecker& c, std::vector<CategoryDefinition>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    c.error(path, 0, std::string("cannot open: ") + std::strerror(errno));
    return;
  }
  std::string line;
  std::vector<std::string> f;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (n == 1 && t.rfind("id,", 0) == 0) continue;  // header
    std::string why;
    if (!split_csv(t, f, why)) {
      c.error(path, n, why);
      continue;
    }
    if (f.size() != 5 && f.size() != 6) {
      c.error(path, n, "expected 5 fields id,slug,group,en,ja (and optionally kind); found " + std::to_string(f.size()));
      continue;
    }
    CategoryRow r;
    r.mark = SourceMark{path, n, 0};
    r.id = trim(f[0]), r.slug = trim(f[1]), r.group = trim(f[2]), r.en = trim(f[3]), r.ja = trim(f[4]);
    if (f.size() == 6 && !trim(f[5]).empty()) r.kind = trim(f[5]);
    if (auto d = c.check(r)) out.push_back(std::move(*d));
  }
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

std::vector<CategoryDefinition> read_category_file(const std::string& path, std::vector<ConfigError>& errors) {
  std::vector<CategoryDefinition> out;
  CategoryChecker checker(errors);
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
    std::ifstream probe(path);
    if (!probe) checker.error(path, 0, std::string("cannot open: ") + std::strerror(errno));
    else read_yaml(path, checker, out);
  } else if (ends_with(path, ".csv")) {
    read_csv(path, checker, out);
  } else {
    checker.error(path, 0, "unknown categories file type: name it .yaml, .yml or .csv");
  }
  return out;
}

}  // namespace sekisho::config
