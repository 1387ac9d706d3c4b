// policy/store/categories.h — the category registry and CategorySet.
//
// A registry is an immutable value: the built-ins (config/categories.h) plus the categories a
// configuration adds (Settings::categories). The policy compile step builds one per
// configuration and it travels inside the PolicySnapshot it was compiled with, published with
// the Runtime: a loop reads the registry of the snapshot it is using, and checking a candidate
// configuration (check-config, the admin API's pre-check, a rejected reload) changes nothing
// anyone else reads. Tools without a configuration (`sekisho db --categories`, tests) build
// their own; CategoryRegistry::builtins() is the built-ins alone.
//
// Category ids are stable on disk (they are bit positions in stored bitsets, 64 to one machine
// word): 0–31 belong to the built-ins, 32–63 to a file's categories, which name their ids.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/categories.h"

namespace sekisho::policy {

using config::CategoryDefinition;
using config::CategoryGroup;
using config::CategoryInfo;
using config::kFirstExtensionId;
using config::kMaxCategories;

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

class CategoryRegistry {
 public:
  // The built-ins alone (one instance for the process, never changed).
  static const CategoryRegistry& builtins();
  static std::shared_ptr<const CategoryRegistry> builtins_shared();

  // The built-ins plus `added`, which the source has checked (config::CategoryChecker):
  // definitions outside 32–63 or repeating an id or a slug are ignored.
  explicit CategoryRegistry(std::vector<CategoryDefinition> added);
  // The views it hands out point into it: it stays where it was built.
  CategoryRegistry(const CategoryRegistry&) = delete;
  CategoryRegistry& operator=(const CategoryRegistry&) = delete;

  // The query path's lookups: an array index and a bit test, no lock, no allocation.
  const CategoryInfo* by_id(uint8_t id) const noexcept {
    return id < kMaxCategories && ((present_ >> id) & 1) ? &by_id_[id] : nullptr;
  }
  // The categories of the security group (RFC 8914 15 Blocked when one decides).
  CategorySet security() const noexcept { return security_; }

  const CategoryInfo* by_slug(std::string_view slug) const;
  // Every category, ordered by id.
  const std::vector<CategoryInfo>& all() const { return all_; }
  // "malware,phishing" (id order); ids the registry lacks print as "#N".
  std::string slugs(CategorySet set) const;
  // UT1 directory name (agressif, drogue, publicite, ...) → our slug; nullopt if unmapped.
  std::optional<std::string_view> ut1_directory_slug(std::string_view dir) const;

  const std::vector<CategoryDefinition>& added() const { return added_; }
  // Same categories (ids, slugs, names, groups, where defined): interchangeable.
  bool same_as(const CategoryRegistry& other) const { return added_ == other.added_; }
  // Distinct for every registry the process builds: text made from a registry's slugs and
  // kept (the query log's per-thread stretches) is keyed by it.
  uint64_t serial() const { return serial_; }

 private:
  std::vector<CategoryDefinition> added_;  // owns the strings the infos of added ids view
  std::vector<std::string> defined_at_;    // "file:line", parallel to added_
  std::array<CategoryInfo, kMaxCategories> by_id_{};
  uint64_t present_ = 0;
  CategorySet security_;
  std::vector<CategoryInfo> all_;
  uint64_t serial_;
};

// Id of the allow-list category; entries carrying it are allow entries (adblock @@, rpz-passthru).
uint8_t allowlist_category_id();

}  // namespace sekisho::policy
