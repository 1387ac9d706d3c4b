// policy/store/category_file.cc — YAML and CSV categories files → validated definitions.
#include "policy/store/category_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "base/text.h"

namespace sekisho::policy {
namespace {

struct Row {
  int line = 0;
  std::optional<std::string> id, slug, group, en, ja;
};

const CategoryInfo* builtin_by_slug(std::string_view slug) {
  for (const auto& c : builtin_categories())
    if (c.slug == slug) return &c;
  return nullptr;
}

class Validator {
 public:
  Validator(const std::string& file, std::vector<CategoryFileError>& errors) : file_(file), errors_(errors) {}

  void error(int line, std::string message) { errors_.push_back({file_, line, std::move(message)}); }

  void add(const Row& r, std::vector<CategoryDefinition>& out) {
    const size_t before = errors_.size();
    auto need = [&](const std::optional<std::string>& v, const char* field) {
      if (!v || v->empty()) error(r.line, std::string("missing '") + field + "'");
      return v ? *v : std::string();
    };
    CategoryDefinition d;
    d.defined_at = file_ + ":" + std::to_string(r.line);
    const std::string id = need(r.id, "id");
    d.slug = need(r.slug, "slug");
    const std::string group = need(r.group, "group");
    d.name_en = need(r.en, "en");
    d.name_ja = need(r.ja, "ja");
    if (errors_.size() != before) return;

    char* end = nullptr;
    errno = 0;
    long n = std::strtol(id.c_str(), &end, 10);
    if (errno || *end || id.empty()) {
      error(r.line, "id '" + id + "' is not a number");
    } else if (n < static_cast<long>(kFirstExtensionId) || n >= static_cast<long>(kMaxCategories)) {
      error(r.line, "id " + id + " is out of range: a file's categories use " + std::to_string(kFirstExtensionId) +
                        "–" + std::to_string(kMaxCategories - 1) + " (0–" + std::to_string(kFirstExtensionId - 1) +
                        " belong to the built-ins)");
    } else {
      d.id = static_cast<uint8_t>(n);
      if (auto it = ids_.find(d.id); it != ids_.end())
        error(r.line, "id " + id + " is already used by '" + it->second.first + "' at line " +
                          std::to_string(it->second.second));
      else
        ids_[d.id] = {d.slug, r.line};
    }

    bool slug_ok = !d.slug.empty() && d.slug.size() <= 32 && d.slug[0] >= 'a' && d.slug[0] <= 'z';
    for (char c : d.slug) slug_ok = slug_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    if (!slug_ok) {
      error(r.line, "slug '" + d.slug + "' must be 1–32 characters of a-z 0-9 _ -, starting with a letter");
    } else if (const CategoryInfo* b = builtin_by_slug(d.slug)) {
      error(r.line, "slug '" + d.slug + "' is a built-in category (id " + std::to_string(b->id) + ")");
    } else if (auto it = slugs_.find(d.slug); it != slugs_.end()) {
      error(r.line, "slug '" + d.slug + "' is already defined at line " + std::to_string(it->second));
    } else {
      slugs_[d.slug] = r.line;
    }

    if (group == "security") d.group = CategoryGroup::kSecurity;
    else if (group == "content") d.group = CategoryGroup::kContent;
    else error(r.line, "group '" + group + "' must be security or content");

    if (errors_.size() == before) out.push_back(std::move(d));
  }

 private:
  std::string file_;
  std::vector<CategoryFileError>& errors_;
  std::map<uint8_t, std::pair<std::string, int>> ids_;
  std::map<std::string, int> slugs_;
};

void read_yaml(const std::string& path, Validator& v, std::vector<CategoryDefinition>& out) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    v.error(e.mark.line + 1, "YAML syntax error: " + e.msg);
    return;
  } catch (const YAML::Exception& e) {
    v.error(0, std::string("cannot read: ") + e.what());
    return;
  }
  if (root.IsNull()) return;
  if (!root.IsMap() || !root["categories"].IsDefined()) {
    v.error(root.Mark().line + 1, "expected a mapping with a 'categories' list");
    return;
  }
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it->first.as<std::string>() != "categories")
      v.error(it->first.Mark().line + 1, "unknown key '" + it->first.as<std::string>() + "'");
  YAML::Node list = root["categories"];
  if (list.IsNull()) return;
  if (!list.IsSequence()) {
    v.error(list.Mark().line + 1, "'categories' must be a list");
    return;
  }
  for (const YAML::Node& item : list) {
    const int line = item.Mark().line + 1;
    if (!item.IsMap()) {
      v.error(line, "a category must be a mapping with id, slug, group, en, ja");
      continue;
    }
    Row r;
    r.line = line;
    bool ok = true;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.as<std::string>();
      std::optional<std::string>* field = key == "id"      ? &r.id
                                          : key == "slug"  ? &r.slug
                                          : key == "group" ? &r.group
                                          : key == "en"    ? &r.en
                                          : key == "ja"    ? &r.ja
                                                           : nullptr;
      if (!field) {
        v.error(it->first.Mark().line + 1, "unknown key '" + key + "' (expected id, slug, group, en, ja)");
        ok = false;
      } else if (!it->second.IsScalar()) {
        v.error(it->second.Mark().line + 1, "'" + key + "' must be a single value");
        ok = false;
      } else {
        *field = it->second.Scalar();
      }
    }
    if (ok) v.add(r, out);
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

void read_csv(const std::string& path, Validator& v, std::vector<CategoryDefinition>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    v.error(0, std::string("cannot open: ") + std::strerror(errno));
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
      v.error(n, why);
      continue;
    }
    if (f.size() != 5) {
      v.error(n, "expected 5 fields id,slug,group,en,ja; found " + std::to_string(f.size()));
      continue;
    }
    Row r;
    r.line = n;
    r.id = trim(f[0]), r.slug = trim(f[1]), r.group = trim(f[2]), r.en = trim(f[3]), r.ja = trim(f[4]);
    v.add(r, out);
  }
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

std::string CategoryFileError::to_string() const {
  return file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + message;
}

std::vector<CategoryDefinition> load_category_file(const std::string& path, std::vector<CategoryFileError>& errors) {
  std::vector<CategoryDefinition> out;
  Validator v(path, errors);
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
    std::ifstream probe(path);
    if (!probe) v.error(0, std::string("cannot open: ") + std::strerror(errno));
    else read_yaml(path, v, out);
  } else if (ends_with(path, ".csv")) {
    read_csv(path, v, out);
  } else {
    v.error(0, "unknown categories file type: name it .yaml, .yml or .csv");
  }
  return out;
}

bool apply_category_file(const std::string& path, std::vector<CategoryFileError>& errors) {
  if (path.empty()) {
    install_category_extensions({});
    return true;
  }
  const size_t before = errors.size();
  auto defs = load_category_file(path, errors);
  if (errors.size() != before) return false;
  install_category_extensions(std::move(defs));
  return true;
}

}  // namespace sekisho::policy
