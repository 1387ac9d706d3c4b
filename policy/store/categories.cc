// policy/store/categories.cc — the category registry (built-ins plus a configuration's added
// categories) and the UT1 directory-name mapping.
#include "policy/store/categories.h"

#include <algorithm>
#include <atomic>

namespace sekisho::policy {
namespace {

struct Ut1Name {
  std::string_view dir;
  std::string_view slug;
};
// UT1 names (French or English) → our slugs. Identity mappings are handled by the registry.
constexpr std::array kUt1 = {
    Ut1Name{"agressif", "violence"},       Ut1Name{"drogue", "drugs"},
    Ut1Name{"publicite", "ads"},           Ut1Name{"social_networks", "social"},
    Ut1Name{"liste_blanche", "allowlist"}, Ut1Name{"warez", "piracy"},
    Ut1Name{"mixed_adult", "adult"},       Ut1Name{"sexual_education", "adult"},
    Ut1Name{"lingerie", "adult"},          Ut1Name{"redirector", "vpn"},
    Ut1Name{"strict_redirector", "vpn"},   Ut1Name{"strong_redirector", "vpn"},
    Ut1Name{"ddos", "hacking"},            Ut1Name{"arjel", "gambling"},
    Ut1Name{"audio-video", "streaming"},   Ut1Name{"shopping", "shopping"},
    Ut1Name{"press", "news"},              Ut1Name{"chat", "chat"},
    Ut1Name{"games", "games"},             Ut1Name{"dating", "dating"},
    Ut1Name{"stalkerware", "malware"},     Ut1Name{"dangerous_material", "weapons"},
};

// Only ever incremented: a serial is never reused, so nothing keyed by one can be mistaken
// for another registry's.
std::atomic<uint64_t> g_next_serial{1};

}  // namespace

namespace {

const std::shared_ptr<const CategoryRegistry>& builtin_registry() {
  static const std::shared_ptr<const CategoryRegistry> registry =
      std::make_shared<const CategoryRegistry>(std::vector<CategoryDefinition>{});
  return registry;
}

}  // namespace

const CategoryRegistry& CategoryRegistry::builtins() { return *builtin_registry(); }

std::shared_ptr<const CategoryRegistry> CategoryRegistry::builtins_shared() { return builtin_registry(); }

CategoryRegistry::CategoryRegistry(std::vector<CategoryDefinition> added)
    : serial_(g_next_serial.fetch_add(1, std::memory_order_relaxed)) {
  for (const auto& c : config::builtin_categories()) {
    by_id_[c.id] = c;
    present_ |= uint64_t{1} << c.id;
  }
  // Kept only when usable: a definition that would take another's id or slug, or an id
  // outside the file's range, would relabel stored entries (the checker reported it).
  for (auto& d : added) {
    const bool id_free = d.id >= kFirstExtensionId && d.id < kMaxCategories && !((present_ >> d.id) & 1);
    const bool slug_free = !config::builtin_category(d.slug) &&
                           std::none_of(added_.begin(), added_.end(), [&](const auto& o) { return o.slug == d.slug; });
    if (!id_free || !slug_free) continue;
    present_ |= uint64_t{1} << d.id;
    added_.push_back(std::move(d));
  }
  // added_ and defined_at_ are final from here on: the infos view their strings.
  defined_at_.reserve(added_.size());
  for (const auto& d : added_) defined_at_.push_back(d.defined_at());
  for (size_t i = 0; i < added_.size(); ++i) {
    const CategoryDefinition& d = added_[i];
    by_id_[d.id] = CategoryInfo{d.id, d.slug, d.name_en, d.name_ja, d.group, defined_at_[i]};
  }
  for (unsigned id = 0; id < kMaxCategories; ++id) {
    if (!((present_ >> id) & 1)) continue;
    all_.push_back(by_id_[id]);
    if (by_id_[id].group == CategoryGroup::kSecurity) security_.add(static_cast<uint8_t>(id));
  }
}

const CategoryInfo* CategoryRegistry::by_slug(std::string_view slug) const {
  for (unsigned id = 0; id < kMaxCategories; ++id)
    if (((present_ >> id) & 1) && by_id_[id].slug == slug) return &by_id_[id];
  return nullptr;
}

std::string CategoryRegistry::slugs(CategorySet set) const {
  std::string out;
  for (unsigned id = 0; id < kMaxCategories; ++id) {
    if (!set.contains(static_cast<uint8_t>(id))) continue;
    if (!out.empty()) out += ',';
    if (const auto* c = by_id(static_cast<uint8_t>(id)))
      out += c->slug;
    else
      out += "#" + std::to_string(id);
  }
  return out;
}

std::optional<std::string_view> CategoryRegistry::ut1_directory_slug(std::string_view dir) const {
  for (const auto& m : kUt1)
    if (m.dir == dir) return m.slug;
  if (const auto* c = by_slug(dir)) return c->slug;
  return std::nullopt;
}

uint8_t allowlist_category_id() { return 0; }

}  // namespace sekisho::policy
