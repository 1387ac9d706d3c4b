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
// Every directory of the UT1 collection (its global_usage NAME records, the directories the
// mirror lists, and the older alias names some trees still carry as links) → our slug. Names
// equal to a slug (gambling, malware, ...) are the registry's identity mapping. Directories mapped
// before the taxonomy grew (lingerie → adult, stalkerware → malware, ...) keep their category, so
// a policy that blocked them still does after a re-import.
constexpr std::array kUt1 = {
    Ut1Name{"agressif", "violence"},       Ut1Name{"drogue", "drugs"},
    Ut1Name{"publicite", "ads"},           Ut1Name{"social_networks", "social"},
    Ut1Name{"liste_blanche", "allowlist"}, Ut1Name{"warez", "piracy"},
    Ut1Name{"mixed_adult", "adult"},       Ut1Name{"sexual_education", "sex_education"},
    Ut1Name{"lingerie", "adult"},          Ut1Name{"redirector", "vpn"},
    Ut1Name{"strict_redirector", "vpn"},   Ut1Name{"strong_redirector", "vpn"},
    Ut1Name{"ddos", "hacking"},            Ut1Name{"arjel", "gambling"},
    Ut1Name{"audio-video", "streaming"},   Ut1Name{"shopping", "shopping"},
    Ut1Name{"press", "news"},              Ut1Name{"chat", "chat"},
    Ut1Name{"games", "games"},             Ut1Name{"dating", "dating"},
    Ut1Name{"stalkerware", "malware"},     Ut1Name{"dangerous_material", "weapons"},
    // Added with the taxonomy (every directory a category, nothing skipped):
    Ut1Name{"associations_religieuses", "religion"},
    Ut1Name{"astrology", "astrology"},     Ut1Name{"sect", "sect"},
    Ut1Name{"bank", "bank"},               Ut1Name{"financial", "finance"},
    Ut1Name{"bitcoin", "crypto_mining"},   Ut1Name{"blog", "blog"},
    Ut1Name{"forums", "forums"},           Ut1Name{"webmail", "webmail"},
    Ut1Name{"celebrity", "celebrity"},     Ut1Name{"manga", "manga"},
    Ut1Name{"radio", "radio"},             Ut1Name{"sports", "sports"},
    Ut1Name{"mobile-phone", "mobile_phone"}, Ut1Name{"cooking", "cooking"},
    Ut1Name{"child", "kids"},              Ut1Name{"educational_games", "educational_games"},
    Ut1Name{"tricheur", "cheating"},       Ut1Name{"tricheur_pix", "cheating"},
    Ut1Name{"examen_pix", "exam_pix"},     Ut1Name{"liste_bu", "library_fr"},
    Ut1Name{"exceptions_liste_bu", "library_fr_exceptions"},
    Ut1Name{"jobsearch", "jobsearch"},     Ut1Name{"fakenews", "fakenews"},
    Ut1Name{"translation", "translation"}, Ut1Name{"filehosting", "filehosting"},
    Ut1Name{"webhosting", "webhosting"},   Ut1Name{"download", "software_download"},
    Ut1Name{"update", "software_update"},  Ut1Name{"cleaning", "security_tools"},
    Ut1Name{"marketingware", "marketingware"}, Ut1Name{"dialer", "dialer"},
    Ut1Name{"reaffected", "reassigned"},   Ut1Name{"dynamic-dns", "dynamic_dns"},
    Ut1Name{"remote-control", "remote_control"},
    Ut1Name{"residential_proxies", "residential_proxies"},
    Ut1Name{"special", "special"},
    Ut1Name{"cryptojacking", "cryptojacking"}, Ut1Name{"doh", "doh"},
    Ut1Name{"hacking", "hacking"},         Ut1Name{"vpn", "vpn"},
    Ut1Name{"shortener", "shortener"},     Ut1Name{"gambling", "gambling"},
    Ut1Name{"malware", "malware"},         Ut1Name{"phishing", "phishing"},
    Ut1Name{"adult", "adult"},
    // Alias names of older trees (links to the directories above).
    Ut1Name{"ads", "ads"},                 Ut1Name{"aggressive", "violence"},
    Ut1Name{"drugs", "drugs"},             Ut1Name{"porn", "adult"},
    Ut1Name{"proxy", "vpn"},               Ut1Name{"mail", "webmail"},
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
    present_.add(c.id);
  }
  // Kept only when usable: a definition that would take another's id or slug, or an id
  // outside the file's range, would relabel stored entries (the checker reported it).
  for (auto& d : added) {
    const bool id_free = config::is_file_category_id(d.id) && !present_.contains(d.id) &&
                         d.group < config::category_groups().size();
    const bool slug_free = !config::builtin_category(d.slug) &&
                           std::none_of(added_.begin(), added_.end(), [&](const auto& o) { return o.slug == d.slug; });
    if (!id_free || !slug_free) continue;
    present_.add(d.id);
    added_.push_back(std::move(d));
  }
  // added_ and defined_at_ are final from here on: the infos view their strings.
  defined_at_.reserve(added_.size());
  for (const auto& d : added_) defined_at_.push_back(d.defined_at());
  for (size_t i = 0; i < added_.size(); ++i) {
    const CategoryDefinition& d = added_[i];
    by_id_[d.id] = CategoryInfo{d.id, d.slug, d.name_en, d.name_ja, d.kind, d.group, defined_at_[i]};
  }
  members_.resize(config::category_groups().size());
  present_.for_each([&](uint8_t id) {
    all_.push_back(by_id_[id]);
    members_[by_id_[id].group].add(id);
    if (by_id_[id].kind == CategoryKind::kSecurity) security_.add(id);
  });
}

const CategoryInfo* CategoryRegistry::by_slug(std::string_view slug) const {
  for (const auto& c : all_)
    if (c.slug == slug) return &by_id_[c.id];
  return nullptr;
}

std::string CategoryRegistry::slugs(CategorySet set) const {
  std::string out;
  set.for_each([&](uint8_t id) {
    if (!out.empty()) out += ',';
    if (const auto* c = by_id(id))
      out += c->slug;
    else
      out += "#" + std::to_string(id);
  });
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> CategoryRegistry::ut1_directories() {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  for (const auto& m : kUt1) out.emplace_back(m.dir, m.slug);
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
