// The built-in categories (ids are on-disk bit positions: append only) and the rules of a
// categories file's rows.
#include "config/categories.h"

#include <array>
#include <cerrno>
#include <cstdlib>

namespace sekisho::config {
namespace {

using G = CategoryGroup;
constexpr std::array kBuiltins = {
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

static_assert(kBuiltins.size() <= kFirstExtensionId, "built-ins outgrew their id range");

}  // namespace

std::string_view category_group_name(CategoryGroup group) {
  switch (group) {
    case CategoryGroup::kSecurity: return "security";
    case CategoryGroup::kContent: return "content";
    case CategoryGroup::kAllow: return "allow";
  }
  return {};
}

std::span<const CategoryInfo> builtin_categories() { return kBuiltins; }

const CategoryInfo* builtin_category(std::string_view slug) {
  for (const auto& c : kBuiltins)
    if (c.slug == slug) return &c;
  return nullptr;
}

std::string CategoryDefinition::defined_at() const { return mark.file + ":" + std::to_string(mark.line); }

void CategoryChecker::error(const std::string& file, int line, std::string message) {
  errors_.push_back(ConfigError{file, line, 0, "categories_file", std::move(message)});
}

std::optional<CategoryDefinition> CategoryChecker::check(const CategoryRow& r) {
  const size_t before = errors_.size();
  auto need = [&](const std::optional<std::string>& v, const char* field) {
    if (!v || v->empty()) error(r.mark.file, r.mark.line, std::string("missing '") + field + "'");
    return v ? *v : std::string();
  };
  CategoryDefinition d;
  d.mark = r.mark;
  const std::string id = need(r.id, "id");
  d.slug = need(r.slug, "slug");
  const std::string group = need(r.group, "group");
  d.name_en = need(r.en, "en");
  d.name_ja = need(r.ja, "ja");
  if (errors_.size() != before) return std::nullopt;

  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(id.c_str(), &end, 10);
  if (errno || *end || id.empty()) {
    error(r.mark.file, r.mark.line, "id '" + id + "' is not a number");
  } else if (check_id(n, id, r.mark, d.slug)) {
    d.id = static_cast<uint8_t>(n);
  }
  check_slug(d.slug, r.mark);
  if (group == category_group_name(CategoryGroup::kSecurity)) d.group = CategoryGroup::kSecurity;
  else if (group == category_group_name(CategoryGroup::kContent)) d.group = CategoryGroup::kContent;
  else error(r.mark.file, r.mark.line, "group '" + group + "' must be security or content");
  if (errors_.size() != before) return std::nullopt;
  return d;
}

bool CategoryChecker::check(const CategoryDefinition& d) {
  const size_t before = errors_.size();
  check_id(d.id, std::to_string(d.id), d.mark, d.slug);
  check_slug(d.slug, d.mark);
  if (d.group == CategoryGroup::kAllow) error(d.mark.file, d.mark.line, "group 'allow' must be security or content");
  return errors_.size() == before;
}

bool CategoryChecker::check_id(long n, const std::string& text, const SourceMark& mark, const std::string& slug) {
  if (n < static_cast<long>(kFirstExtensionId) || n >= static_cast<long>(kMaxCategories)) {
    error(mark.file, mark.line,
          "id " + text + " is out of range: a file's categories use " + std::to_string(kFirstExtensionId) + "–" +
              std::to_string(kMaxCategories - 1) + " (0–" + std::to_string(kFirstExtensionId - 1) +
              " belong to the built-ins)");
    return false;
  }
  const auto id = static_cast<uint8_t>(n);
  if (auto it = ids_.find(id); it != ids_.end()) {
    error(mark.file, mark.line,
          "id " + text + " is already used by '" + it->second.first + "' at line " + std::to_string(it->second.second));
    return false;
  }
  ids_[id] = {slug, mark.line};
  return true;
}

bool CategoryChecker::check_slug(const std::string& slug, const SourceMark& mark) {
  bool ok = !slug.empty() && slug.size() <= 32 && slug[0] >= 'a' && slug[0] <= 'z';
  for (char c : slug) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  if (!ok) {
    error(mark.file, mark.line, "slug '" + slug + "' must be 1–32 characters of a-z 0-9 _ -, starting with a letter");
    return false;
  }
  if (const CategoryInfo* b = builtin_category(slug)) {
    error(mark.file, mark.line, "slug '" + slug + "' is a built-in category (id " + std::to_string(b->id) + ")");
    return false;
  }
  if (auto it = slugs_.find(slug); it != slugs_.end()) {
    error(mark.file, mark.line, "slug '" + slug + "' is already defined at line " + std::to_string(it->second));
    return false;
  }
  slugs_[slug] = mark.line;
  return true;
}

std::vector<CategoryDefinition> checked_categories(const std::vector<CategoryDefinition>& defs,
                                                   std::vector<ConfigError>& errors) {
  std::vector<CategoryDefinition> out;
  CategoryChecker checker(errors);
  for (const auto& d : defs)
    if (checker.check(d)) out.push_back(d);
  return out;
}

}  // namespace sekisho::config
