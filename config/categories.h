// The categories a configuration may name: the built-ins and the ones a categories file adds,
// as plain values, and the rules a categories file's rows must follow. No YAML here: the YAML
// source (config/yaml/category_file.h) reads the file into rows, CategoryChecker turns them
// into CategoryDefinitions, and the policy compile step builds the registry the query path reads
// (policy/store/categories.h) from Settings::categories.
//
// Category ids are stable on disk (they are bit positions in the store's bitsets): never
// renumber, only append. 64 ids fit one machine word. Ids 0–31 belong to the built-ins (26
// used; future built-ins append there), 32–63 to categories a file adds: a file names its ids
// itself, so they cannot shift when the file is edited.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/error.h"

namespace sekisho::config {

enum class CategoryGroup : uint8_t { kSecurity, kContent, kAllow };

// "security", "content", "allow".
std::string_view category_group_name(CategoryGroup group);

inline constexpr unsigned kMaxCategories = 64;
inline constexpr unsigned kFirstExtensionId = 32;

// One category as the registry lists it; views into the built-in table or into the
// definitions a registry owns.
struct CategoryInfo {
  uint8_t id;
  std::string_view slug;
  std::string_view name_en;
  std::string_view name_ja;
  CategoryGroup group;
  std::string_view defined_at = {};  // "file:line" for a file's category; empty for built-ins
};

// The built-ins, ordered by id.
std::span<const CategoryInfo> builtin_categories();
const CategoryInfo* builtin_category(std::string_view slug);

// A category a categories file adds, owning its strings.
struct CategoryDefinition {
  uint8_t id = 0;
  std::string slug;
  std::string name_en;
  std::string name_ja;
  CategoryGroup group = CategoryGroup::kContent;
  SourceMark mark;  // file and line of its row
  std::string defined_at() const;  // "file:line"
  bool operator==(const CategoryDefinition&) const = default;
};

// One row of a categories file as written: each field's text, or nothing when absent.
struct CategoryRow {
  SourceMark mark;
  std::optional<std::string> id, slug, group, en, ja;
};

// Checks rows (or definitions from another source) in file order against the built-ins and
// each other, and reports every problem as a ConfigError at the row's line with the path
// "categories_file".
class CategoryChecker {
 public:
  explicit CategoryChecker(std::vector<ConfigError>& errors) : errors_(errors) {}

  // A file-wide problem (cannot open, unknown type) or one at `line` of `file`.
  void error(const std::string& file, int line, std::string message);
  // The row's definition when every field is present and valid.
  std::optional<CategoryDefinition> check(const CategoryRow& row);
  // The same rules for a definition that was not read from text.
  bool check(const CategoryDefinition& d);

 private:
  bool check_id(long id, const std::string& text, const SourceMark& mark, const std::string& slug);
  bool check_slug(const std::string& slug, const SourceMark& mark);

  std::vector<ConfigError>& errors_;
  std::map<uint8_t, std::pair<std::string, int>> ids_;  // id → slug and line of its first row
  std::map<std::string, int> slugs_;                    // slug → line of its first row
};

// The definitions of `defs` that pass CategoryChecker (problems appended to `errors`).
std::vector<CategoryDefinition> checked_categories(const std::vector<CategoryDefinition>& defs,
                                                   std::vector<ConfigError>& errors);

}  // namespace sekisho::config
