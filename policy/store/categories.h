// policy/store/categories.h — the category registry (built-ins plus a file's extensions) and
// CategorySet.
//
// Category ids are stable on disk (they are bit positions in stored bitsets): never renumber,
// only append. 64 ids fit one machine word, which keeps a lookup result and a cache entry's
// category union to a single uint64_t. Ids 0–31 belong to the built-ins (26 used; future
// built-ins append there), 32–63 to categories a file adds (category_file.h): a file names
// its ids itself, so they cannot shift when the file is edited, and the store records them
// at import and refuses a file that renumbers (category_table.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho::policy {

enum class CategoryGroup : uint8_t { kSecurity, kContent, kAllow };

struct CategoryInfo {
  uint8_t id;
  std::string_view slug;
  std::string_view name_en;
  std::string_view name_ja;
  CategoryGroup group;
  std::string_view defined_at = {};  // "file:line" for a file's category; empty for built-ins
};

inline constexpr unsigned kMaxCategories = 64;
inline constexpr unsigned kFirstExtensionId = 32;

// A category added by a categories file, owning its strings.
struct CategoryDefinition {
  uint8_t id = 0;
  std::string slug;
  std::string name_en;
  std::string name_ja;
  CategoryGroup group = CategoryGroup::kContent;
  std::string defined_at;  // "file:line"
  bool operator==(const CategoryDefinition&) const = default;
};

// A set of category ids. Plain value type; cheap to copy.
class CategorySet {
 public:
  constexpr CategorySet() = default;
  constexpr explicit CategorySet(uint64_t bits) : bits_(bits) {}
  constexpr void add(uint8_t id) { bits_ |= uint64_t{1} << id; }
  constexpr bool contains(uint8_t id) const { return (bits_ >> id) & 1; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool intersects(CategorySet o) const { return (bits_ & o.bits_) != 0; }
  constexpr uint64_t bits() const { return bits_; }
  constexpr CategorySet operator|(CategorySet o) const { return CategorySet(bits_ | o.bits_); }
  constexpr CategorySet& operator|=(CategorySet o) { bits_ |= o.bits_; return *this; }
  constexpr bool operator==(const CategorySet&) const = default;

 private:
  uint64_t bits_ = 0;
};

// The built-in registry, ordered by id.
std::span<const CategoryInfo> builtin_categories();
// Built-ins plus the installed extensions, ordered by id. The views stay valid for the
// process's lifetime (a replaced extension set is never freed).
std::vector<CategoryInfo> all_categories();
// Replaces the file-defined categories (empty: built-ins only). The caller has validated
// them (category_file.h). Other threads' lookups see the old or the new set, never a mix:
// the query path (EDE text, query log) reads the registry without a lock. Definitions equal
// to the installed ones change nothing: no new set, the same generation.
void install_category_extensions(std::vector<CategoryDefinition> extensions);
// Counts install_category_extensions calls: text made from slugs and kept (the query log's
// per-thread stretches) is valid while this stays the same.
uint64_t category_registry_generation();
// The installed extensions (to restore them when a reload is rejected).
std::vector<CategoryDefinition> category_extensions();
const CategoryInfo* category_by_slug(std::string_view slug);
const CategoryInfo* category_by_id(uint8_t id);
// Id of the allow-list category; entries carrying it are allow entries (adblock @@, rpz-passthru).
uint8_t allowlist_category_id();
// "malware,phishing" (registry order); unknown ids print as "#N".
std::string category_slugs(CategorySet set);
// UT1 directory name (agressif, drogue, publicite, ...) → our slug; nullopt if unmapped.
std::optional<std::string_view> ut1_directory_slug(std::string_view dir);

}  // namespace sekisho::policy
