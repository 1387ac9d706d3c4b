// policy/store/categories.cc — built-in category registry (ids are on-disk bit positions:
// append only), the installed extensions, and the UT1 directory-name mapping.
#include "policy/store/categories.h"

#include <array>
#include <atomic>

namespace sekisho::policy {
namespace {

using G = CategoryGroup;
constexpr std::array kRegistry = {
    CategoryInfo{0, "allowlist", "Allow list", "許可リスト", G::kAllow},
    CategoryInfo{1, "adult", "Adult content", "アダルト", G::kContent},
    CategoryInfo{2, "gambling", "Gambling", "ギャンブル", G::kContent},
    CategoryInfo{3, "malware", "Malware", "マルウェア", G::kSecurity},
    CategoryInfo{4, "phishing", "Phishing", "フィッシング", G::kSecurity},
    CategoryInfo{5, "social", "Social networks", "ソーシャルネットワーク", G::kContent},
    CategoryInfo{6, "games", "Games", "ゲーム", G::kContent},
    CategoryInfo{7, "ads", "Advertising", "広告", G::kContent},
    CategoryInfo{8, "dating", "Dating", "出会い系", G::kContent},
    CategoryInfo{9, "drugs", "Drugs", "薬物", G::kContent},
    CategoryInfo{10, "violence", "Violence and hate", "暴力・ヘイト", G::kContent},
    CategoryInfo{11, "cryptojacking", "Cryptojacking", "クリプトジャッキング", G::kSecurity},
    CategoryInfo{12, "doh", "DNS-over-HTTPS resolvers", "DoHリゾルバ", G::kSecurity},
    CategoryInfo{13, "hacking", "Hacking", "ハッキング", G::kSecurity},
    CategoryInfo{14, "vpn", "VPN and proxies", "VPN・プロキシ", G::kSecurity},
    CategoryInfo{15, "shortener", "URL shorteners", "短縮URL", G::kContent},
    CategoryInfo{16, "piracy", "Piracy", "海賊版", G::kContent},
    CategoryInfo{17, "tracking", "Tracking", "トラッキング", G::kContent},
    CategoryInfo{18, "nosafesearch", "Search without SafeSearch", "セーフサーチ非対応検索", G::kContent},
    CategoryInfo{19, "weapons", "Weapons", "武器", G::kContent},
    CategoryInfo{20, "chat", "Chat", "チャット", G::kContent},
    CategoryInfo{21, "streaming", "Streaming media", "動画配信", G::kContent},
    CategoryInfo{22, "shopping", "Shopping", "ショッピング", G::kContent},
    CategoryInfo{23, "news", "News", "ニュース", G::kContent},
    CategoryInfo{24, "newly_registered", "Newly registered domains", "新規登録ドメイン", G::kSecurity},
    CategoryInfo{25, "spam", "Spam", "スパム", G::kSecurity},
};

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

static_assert(kRegistry.size() <= kFirstExtensionId, "built-ins outgrew their id range");

// The file-defined categories, immutable once published. A replaced set is deliberately never
// freed: the query path holds its CategoryInfo pointers without a lock. A set is ~5 KiB, kept
// once per reload that changed the file (install_category_extensions keeps the published set
// when the definitions are equal).
struct Extensions {
  std::vector<CategoryDefinition> defs;  // owns the strings the infos view
  std::array<CategoryInfo, kMaxCategories> by_id{};
  std::array<bool, kMaxCategories> present{};
};
std::atomic<const Extensions*> g_extensions{nullptr};
std::atomic<uint64_t> g_registry_generation{0};

}  // namespace

std::span<const CategoryInfo> builtin_categories() { return kRegistry; }

void install_category_extensions(std::vector<CategoryDefinition> extensions) {
  // Every (re)load installs, and a rejected one installs the previous set again: publishing
  // only a change keeps the never-freed sets from growing with each reload, and the query
  // log's text kept per generation valid.
  const Extensions* current = g_extensions.load(std::memory_order_acquire);
  if (current ? current->defs == extensions : extensions.empty()) return;
  auto* e = new Extensions;
  e->defs = std::move(extensions);
  for (const auto& d : e->defs) {
    e->by_id[d.id] = CategoryInfo{d.id, d.slug, d.name_en, d.name_ja, d.group, d.defined_at};
    e->present[d.id] = true;
  }
  g_extensions.store(e, std::memory_order_release);
  g_registry_generation.fetch_add(1, std::memory_order_release);
}

uint64_t category_registry_generation() { return g_registry_generation.load(std::memory_order_acquire); }

std::vector<CategoryDefinition> category_extensions() {
  const Extensions* e = g_extensions.load(std::memory_order_acquire);
  return e ? e->defs : std::vector<CategoryDefinition>{};
}

std::vector<CategoryInfo> all_categories() {
  std::vector<CategoryInfo> out(kRegistry.begin(), kRegistry.end());
  if (const Extensions* e = g_extensions.load(std::memory_order_acquire))
    for (unsigned id = kFirstExtensionId; id < kMaxCategories; ++id)
      if (e->present[id]) out.push_back(e->by_id[id]);
  return out;
}

const CategoryInfo* category_by_slug(std::string_view slug) {
  for (const auto& c : kRegistry)
    if (c.slug == slug) return &c;
  if (const Extensions* e = g_extensions.load(std::memory_order_acquire))
    for (unsigned id = kFirstExtensionId; id < kMaxCategories; ++id)
      if (e->present[id] && e->by_id[id].slug == slug) return &e->by_id[id];
  return nullptr;
}

const CategoryInfo* category_by_id(uint8_t id) {
  if (id < kRegistry.size()) return &kRegistry[id];
  if (id >= kMaxCategories) return nullptr;
  const Extensions* e = g_extensions.load(std::memory_order_acquire);
  return e && e->present[id] ? &e->by_id[id] : nullptr;
}

uint8_t allowlist_category_id() { return 0; }

std::string category_slugs(CategorySet set) {
  std::string out;
  for (unsigned id = 0; id < kMaxCategories; ++id) {
    if (!set.contains(static_cast<uint8_t>(id))) continue;
    if (!out.empty()) out += ',';
    if (const auto* c = category_by_id(static_cast<uint8_t>(id)))
      out += c->slug;
    else
      out += "#" + std::to_string(id);
  }
  return out;
}

std::optional<std::string_view> ut1_directory_slug(std::string_view dir) {
  for (const auto& m : kUt1)
    if (m.dir == dir) return m.slug;
  if (const auto* c = category_by_slug(dir)) return c->slug;
  return std::nullopt;
}

}  // namespace sekisho::policy
