// The categories a configuration may name: the built-ins and the ones a categories file adds,
// as plain values, and the rules a categories file's rows must follow. No YAML here: the YAML
// source (config/yaml/category_file.h) reads the file into rows, CategoryChecker turns them
// into CategoryDefinitions, and the policy compile step builds the registry the query path reads
// (policy/store/categories.h) from Settings::categories.
//
// Two levels, like 大分類 → 小分類: every category belongs to one group (security threats,
// filter evasion, adult, communication, ...), and a policy blocks single categories
// (`block`) or whole groups (`block_groups`). Each category also has a kind, security or
// content (allow for the allow list alone), which picks the EDE code of a block (15 or 17).
//
// Category ids are stable on disk (the store keeps them with its entries): never renumber,
// only append. 256 ids: 0–31 and 64–191 belong to the built-ins (the taxonomy that covers every
// UT1 directory), 32–63 and 192–255 to categories a file adds (32–63 were the file's range
// when sets were 64 bits, so stores written then keep their meaning): a file names its ids
// itself, so they cannot shift when the file is edited. Groups are built in.
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

enum class CategoryKind : uint8_t { kSecurity, kContent, kAllow };

// "security", "content", "allow".
std::string_view category_kind_name(CategoryKind kind);

inline constexpr unsigned kMaxCategories = 256;
// The ids a categories file may give (the rest belong to the built-ins).
constexpr bool is_file_category_id(unsigned id) { return (id >= 32 && id < 64) || (id >= 192 && id < kMaxCategories); }
inline constexpr const char* kFileCategoryIds = "32–63 or 192–255";

// A group of categories (大分類). Its kind is what a file's category in it gets by default.
struct CategoryGroupInfo {
  uint8_t id;
  std::string_view slug;
  std::string_view name_en;
  std::string_view name_ja;
  CategoryKind kind;
};
// The groups, ordered by id (ids are positions in this table and never stored).
std::span<const CategoryGroupInfo> category_groups();
const CategoryGroupInfo* category_group(std::string_view slug);
// The group a category file's row written before groups existed gets for `group: content`.
inline constexpr std::string_view kLegacyContentGroup = "other";

// One category as the registry lists it; views into the built-in table or into the
// definitions a registry owns.
struct CategoryInfo {
  uint8_t id;
  std::string_view slug;
  std::string_view name_en;
  std::string_view name_ja;
  CategoryKind kind;
  uint8_t group;                     // index into category_groups()
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
  CategoryKind kind = CategoryKind::kContent;
  uint8_t group = 0;  // index into category_groups()
  SourceMark mark;  // file and line of its row
  std::string defined_at() const;  // "file:line"
  bool operator==(const CategoryDefinition&) const = default;
};

// One row of a categories file as written: each field's text, or nothing when absent.
struct CategoryRow {
  SourceMark mark;
  // group: a group's slug; `security` and `content` (what the field said before groups) still
  // read as the security group and the `other` group. kind: security | content, by default the
  // group's.
  std::optional<std::string> id, slug, group, kind, en, ja;
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
