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
// Category ids are stable on disk: 0–31 and 64–191 belong to the built-ins, 32–63 and 192–255
// to a file's categories, which name their ids (config/categories.h).
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
using config::CategoryGroupInfo;
using config::CategoryInfo;
using config::CategoryKind;
using config::kMaxCategories;

// A set of category ids: 256 bits in four words, so that comparing a name's categories with a
// policy's is four ANDs. Plain value type; cheap to copy.
// "No category" where one id is expected (a verdict a list decided): outside every id.
inline constexpr uint16_t kNoCategory = 0xFFFF;

class CategorySet {
 public:
  static constexpr unsigned kWords = kMaxCategories / 64;
  constexpr CategorySet() = default;
  // The set whose ids 0–63 are the bits of `word` (the 64-bit sets of stores, source records and
  // index tables written before ids went past 63).
  static constexpr CategorySet from_low_word(uint64_t word) { return CategorySet(word); }
  constexpr explicit CategorySet(uint64_t low_word) : w_{low_word, 0, 0, 0} {}
  constexpr void add(uint8_t id) { w_[id >> 6] |= uint64_t{1} << (id & 63); }
  constexpr CategorySet with(uint8_t id) const {
    CategorySet s = *this;
    s.add(id);
    return s;
  }
  constexpr bool contains(uint8_t id) const { return (w_[id >> 6] >> (id & 63)) & 1; }
  constexpr bool empty() const { return (w_[0] | w_[1] | w_[2] | w_[3]) == 0; }
  constexpr bool intersects(const CategorySet& o) const {
    return ((w_[0] & o.w_[0]) | (w_[1] & o.w_[1]) | (w_[2] & o.w_[2]) | (w_[3] & o.w_[3])) != 0;
  }
  constexpr uint64_t word(unsigned i) const { return w_[i]; }
  constexpr void set_word(unsigned i, uint64_t w) { w_[i] = w; }
  // Every id is below 64: the set is its first word.
  constexpr bool fits_low_word() const { return (w_[1] | w_[2] | w_[3]) == 0; }
  // The smallest id, or kMaxCategories if empty.
  constexpr unsigned first() const {
    for (unsigned i = 0; i < kWords; ++i)
      if (w_[i]) return i * 64 + static_cast<unsigned>(__builtin_ctzll(w_[i]));
    return kMaxCategories;
  }
  constexpr unsigned size() const {
    unsigned n = 0;
    for (uint64_t w : w_) n += static_cast<unsigned>(__builtin_popcountll(w));
    return n;
  }
  // f(id) for every id, ascending.
  template <class F>
  constexpr void for_each(F&& f) const {
    for (unsigned i = 0; i < kWords; ++i)
      for (uint64_t w = w_[i]; w != 0; w &= w - 1) f(static_cast<uint8_t>(i * 64 + __builtin_ctzll(w)));
  }
  constexpr CategorySet operator&(const CategorySet& o) const {
    CategorySet r;
    for (unsigned i = 0; i < kWords; ++i) r.w_[i] = w_[i] & o.w_[i];
    return r;
  }
  constexpr CategorySet operator|(const CategorySet& o) const {
    CategorySet r;
    for (unsigned i = 0; i < kWords; ++i) r.w_[i] = w_[i] | o.w_[i];
    return r;
  }
  // The ids of this set that `o` does not hold.
  constexpr CategorySet without(const CategorySet& o) const {
    CategorySet r;
    for (unsigned i = 0; i < kWords; ++i) r.w_[i] = w_[i] & ~o.w_[i];
    return r;
  }
  constexpr CategorySet& operator|=(const CategorySet& o) {
    for (unsigned i = 0; i < kWords; ++i) w_[i] |= o.w_[i];
    return *this;
  }
  constexpr bool operator==(const CategorySet&) const = default;

 private:
  uint64_t w_[kWords] = {};
};

class CategoryRegistry {
 public:
  // The built-ins alone (one instance for the process, never changed).
  static const CategoryRegistry& builtins();
  static std::shared_ptr<const CategoryRegistry> builtins_shared();

  // The built-ins plus `added`, which the source has checked (config::CategoryChecker):
  // definitions outside a file's ids or repeating an id or a slug are ignored.
  explicit CategoryRegistry(std::vector<CategoryDefinition> added);
  // The views it hands out point into it: it stays where it was built.
  CategoryRegistry(const CategoryRegistry&) = delete;
  CategoryRegistry& operator=(const CategoryRegistry&) = delete;

  // The query path's lookups: an array index and a bit test, no lock, no allocation.
  const CategoryInfo* by_id(unsigned id) const noexcept {
    return id < kMaxCategories && present_.contains(static_cast<uint8_t>(id)) ? &by_id_[id] : nullptr;
  }
  // The categories of the security group (RFC 8914 15 Blocked when one decides).
  CategorySet security() const noexcept { return security_; }

  const CategoryInfo* by_slug(std::string_view slug) const;
  // Every category of group `group` (config::category_groups() index) this registry has.
  CategorySet members(uint8_t group) const noexcept { return group < members_.size() ? members_[group] : CategorySet{}; }
  const CategoryGroupInfo& group_of(const CategoryInfo& c) const { return config::category_groups()[c.group]; }
  // Every category, ordered by id.
  const std::vector<CategoryInfo>& all() const { return all_; }
  // "malware,phishing" (id order); ids the registry lacks print as "#N".
  std::string slugs(CategorySet set) const;
  // UT1 directory name (agressif, drogue, publicite, ...) → our slug; nullopt if unmapped.
  std::optional<std::string_view> ut1_directory_slug(std::string_view dir) const;
  // Every UT1 directory name the built-in mapping knows, with its slug (`sekisho db categories`).
  static std::vector<std::pair<std::string_view, std::string_view>> ut1_directories();

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
  CategorySet present_;
  CategorySet security_;
  std::vector<CategorySet> members_;  // by group id
  std::vector<CategoryInfo> all_;
  uint64_t serial_;
};

// Id of the allow-list category; entries carrying it are allow entries (adblock @@, rpz-passthru).
uint8_t allowlist_category_id();

}  // namespace sekisho::policy
