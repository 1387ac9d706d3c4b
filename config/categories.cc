// The built-in categories (ids are on-disk bit positions: append only) and the rules of a
// categories file's rows.
#include "config/categories.h"

#include <array>
#include <cerrno>
#include <cstdlib>

namespace sekisho::config {
namespace {

using K = CategoryKind;

// Group ids are indexes here; only category ids are stored anywhere.
enum Group : uint8_t {
  kGSecurity, kGEvasion, kGAdult, kGHarmful, kGGambling, kGCommunication, kGEntertainment, kGShopping,
  kGAdvertising, kGInformation, kGBeliefs, kGLifestyle, kGEducation, kGInternet, kGOther, kGAllow,
};
constexpr std::array kGroups = {
    CategoryGroupInfo{kGSecurity, "security", "Security threats", "セキュリティ脅威", K::kSecurity},
    CategoryGroupInfo{kGEvasion, "evasion", "Filter evasion", "フィルタ回避", K::kSecurity},
    CategoryGroupInfo{kGAdult, "adult", "Adult and dating", "アダルト・出会い", K::kContent},
    CategoryGroupInfo{kGHarmful, "harmful", "Illegal and harmful", "違法・有害", K::kContent},
    CategoryGroupInfo{kGGambling, "gambling", "Gambling", "ギャンブル", K::kContent},
    CategoryGroupInfo{kGCommunication, "communication", "Communication", "コミュニケーション", K::kContent},
    CategoryGroupInfo{kGEntertainment, "entertainment", "Entertainment", "エンターテインメント", K::kContent},
    CategoryGroupInfo{kGShopping, "shopping", "Shopping and money", "ショッピング・金融", K::kContent},
    CategoryGroupInfo{kGAdvertising, "advertising", "Advertising and tracking", "広告・トラッキング", K::kContent},
    CategoryGroupInfo{kGInformation, "information", "News and information", "ニュース・情報", K::kContent},
    CategoryGroupInfo{kGBeliefs, "beliefs", "Religion and beliefs", "宗教・信仰", K::kContent},
    CategoryGroupInfo{kGLifestyle, "lifestyle", "Hobbies and lifestyle", "趣味・生活", K::kContent},
    CategoryGroupInfo{kGEducation, "education", "Education", "教育", K::kContent},
    CategoryGroupInfo{kGInternet, "internet", "Internet services", "インターネットサービス", K::kContent},
    CategoryGroupInfo{kGOther, "other", "Other", "その他", K::kContent},
    CategoryGroupInfo{kGAllow, "allow", "Allow lists", "許可リスト", K::kAllow},
};

// The UT1 directory each new category was made for is named in policy/store/categories.cc.
constexpr std::array kBuiltins = {
    CategoryInfo{0, "allowlist", "Allow list", "許可リスト", K::kAllow, kGAllow},
    CategoryInfo{1, "adult", "Adult content", "アダルト", K::kContent, kGAdult},
    CategoryInfo{2, "gambling", "Gambling", "ギャンブル", K::kContent, kGGambling},
    CategoryInfo{3, "malware", "Malware", "マルウェア", K::kSecurity, kGSecurity},
    CategoryInfo{4, "phishing", "Phishing", "フィッシング", K::kSecurity, kGSecurity},
    CategoryInfo{5, "social", "Social networks", "ソーシャルネットワーク", K::kContent, kGCommunication},
    CategoryInfo{6, "games", "Games", "ゲーム", K::kContent, kGEntertainment},
    CategoryInfo{7, "ads", "Advertising", "広告", K::kContent, kGAdvertising},
    CategoryInfo{8, "dating", "Dating", "出会い系", K::kContent, kGAdult},
    CategoryInfo{9, "drugs", "Drugs", "薬物", K::kContent, kGHarmful},
    CategoryInfo{10, "violence", "Violence and hate", "暴力・ヘイト", K::kContent, kGHarmful},
    CategoryInfo{11, "cryptojacking", "Cryptojacking", "クリプトジャッキング", K::kSecurity, kGSecurity},
    CategoryInfo{12, "doh", "DNS-over-HTTPS resolvers", "DoHリゾルバ", K::kSecurity, kGEvasion},
    CategoryInfo{13, "hacking", "Hacking", "ハッキング", K::kSecurity, kGSecurity},
    CategoryInfo{14, "vpn", "VPN and proxies", "VPN・プロキシ", K::kSecurity, kGEvasion},
    CategoryInfo{15, "shortener", "URL shorteners", "短縮URL", K::kContent, kGInternet},
    CategoryInfo{16, "piracy", "Piracy", "海賊版", K::kContent, kGHarmful},
    CategoryInfo{17, "tracking", "Tracking", "トラッキング", K::kContent, kGAdvertising},
    CategoryInfo{18, "nosafesearch", "Search without SafeSearch", "セーフサーチ非対応検索", K::kContent, kGInternet},
    CategoryInfo{19, "weapons", "Weapons", "武器", K::kContent, kGHarmful},
    CategoryInfo{20, "chat", "Chat", "チャット", K::kContent, kGCommunication},
    CategoryInfo{21, "streaming", "Streaming media", "動画配信", K::kContent, kGEntertainment},
    CategoryInfo{22, "shopping", "Shopping", "ショッピング", K::kContent, kGShopping},
    CategoryInfo{23, "news", "News", "ニュース", K::kContent, kGInformation},
    CategoryInfo{24, "newly_registered", "Newly registered domains", "新規登録ドメイン", K::kSecurity, kGSecurity},
    CategoryInfo{25, "spam", "Spam", "スパム", K::kSecurity, kGSecurity},
    // 64–191: the taxonomy's further categories (32–63 are a file's).
    CategoryInfo{64, "religion", "Religious organisations", "宗教団体", K::kContent, kGBeliefs},
    CategoryInfo{65, "astrology", "Astrology and fortune telling", "占い", K::kContent, kGBeliefs},
    CategoryInfo{66, "sect", "Cults and sects", "カルト", K::kContent, kGBeliefs},
    CategoryInfo{67, "bank", "Online banking", "オンラインバンキング", K::kContent, kGShopping},
    CategoryInfo{68, "finance", "Finance and investing", "金融・投資", K::kContent, kGShopping},
    CategoryInfo{69, "crypto_mining", "Cryptocurrency mining", "仮想通貨マイニング", K::kContent, kGShopping},
    CategoryInfo{70, "blog", "Blogs", "ブログ", K::kContent, kGCommunication},
    CategoryInfo{71, "forums", "Forums", "掲示板", K::kContent, kGCommunication},
    CategoryInfo{72, "webmail", "Webmail", "Webメール", K::kContent, kGCommunication},
    CategoryInfo{73, "celebrity", "Celebrities and gossip", "芸能・ゴシップ", K::kContent, kGEntertainment},
    CategoryInfo{74, "manga", "Manga and cartoons", "漫画・アニメ", K::kContent, kGEntertainment},
    CategoryInfo{75, "radio", "Internet radio", "ネットラジオ", K::kContent, kGEntertainment},
    CategoryInfo{76, "sports", "Sports", "スポーツ", K::kContent, kGEntertainment},
    CategoryInfo{77, "mobile_phone", "Mobile phone content", "携帯電話向けコンテンツ", K::kContent, kGEntertainment},
    CategoryInfo{78, "cooking", "Cooking", "料理", K::kContent, kGLifestyle},
    CategoryInfo{79, "kids", "Sites for children", "子供向けサイト", K::kContent, kGEducation},
    CategoryInfo{80, "educational_games", "Educational games", "学習ゲーム", K::kContent, kGEducation},
    CategoryInfo{81, "sex_education", "Sex education", "性教育", K::kContent, kGEducation},
    CategoryInfo{82, "cheating", "Exam cheating", "カンニング", K::kContent, kGEducation},
    CategoryInfo{83, "exam_pix", "PIX exam sites (France)", "PIX試験用サイト（フランス）", K::kContent, kGEducation},
    CategoryInfo{84, "library_fr", "Academic library sites (France)", "大学図書館向けサイト（フランス）", K::kContent, kGEducation},
    CategoryInfo{85, "library_fr_exceptions", "Exceptions to the academic library list", "大学図書館リストの例外", K::kContent, kGEducation},
    CategoryInfo{86, "jobsearch", "Job search", "求人・転職", K::kContent, kGInformation},
    CategoryInfo{87, "fakenews", "Fake news", "フェイクニュース", K::kContent, kGInformation},
    CategoryInfo{88, "translation", "Translation", "翻訳", K::kContent, kGInternet},
    CategoryInfo{89, "filehosting", "File hosting and sharing", "ファイル共有・ストレージ", K::kContent, kGInternet},
    CategoryInfo{90, "webhosting", "Web hosting", "Webホスティング", K::kContent, kGInternet},
    CategoryInfo{91, "software_download", "Software downloads", "ソフトウェアダウンロード", K::kContent, kGInternet},
    CategoryInfo{92, "software_update", "Software updates", "ソフトウェア更新", K::kContent, kGInternet},
    CategoryInfo{93, "security_tools", "Antivirus and clean-up", "セキュリティ対策ソフト", K::kContent, kGInternet},
    CategoryInfo{94, "marketingware", "Aggressive marketing", "悪質マーケティング", K::kContent, kGAdvertising},
    CategoryInfo{95, "dialer", "Dialers", "ダイヤラー", K::kSecurity, kGSecurity},
    CategoryInfo{96, "reassigned", "Reassigned domains", "再取得ドメイン", K::kSecurity, kGSecurity},
    CategoryInfo{97, "dynamic_dns", "Dynamic DNS", "ダイナミックDNS", K::kSecurity, kGEvasion},
    CategoryInfo{98, "remote_control", "Remote desktop", "リモートデスクトップ", K::kSecurity, kGEvasion},
    CategoryInfo{99, "residential_proxies", "Residential proxies", "レジデンシャルプロキシ", K::kSecurity, kGEvasion},
    CategoryInfo{100, "special", "Special list (UT1)", "特別リスト（UT1）", K::kContent, kGOther},
};

constexpr bool ids_ascend_outside_file_range() {
  for (size_t i = 0; i < kBuiltins.size(); ++i) {
    if (is_file_category_id(kBuiltins[i].id) || kBuiltins[i].group >= kGroups.size()) return false;
    if (i > 0 && kBuiltins[i].id <= kBuiltins[i - 1].id) return false;
  }
  for (size_t i = 0; i < kGroups.size(); ++i)
    if (kGroups[i].id != i) return false;
  return true;
}
static_assert(ids_ascend_outside_file_range(), "built-in ids ascend, outside a file's ids; group ids are their index");


}  // namespace

std::string_view category_kind_name(CategoryKind kind) {
  switch (kind) {
    case CategoryKind::kSecurity: return "security";
    case CategoryKind::kContent: return "content";
    case CategoryKind::kAllow: return "allow";
  }
  return {};
}

std::span<const CategoryGroupInfo> category_groups() { return kGroups; }

const CategoryGroupInfo* category_group(std::string_view slug) {
  for (const auto& g : kGroups)
    if (g.slug == slug) return &g;
  return nullptr;
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
  const std::string kind = r.kind ? *r.kind : std::string();

  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(id.c_str(), &end, 10);
  if (errno || *end || id.empty()) {
    error(r.mark.file, r.mark.line, "id '" + id + "' is not a number");
  } else if (check_id(n, id, r.mark, d.slug)) {
    d.id = static_cast<uint8_t>(n);
  }
  check_slug(d.slug, r.mark);
  const CategoryGroupInfo* g = category_group(group == "content" ? kLegacyContentGroup : std::string_view(group));
  if (!g || g->kind == CategoryKind::kAllow) {
    std::string known;
    for (const auto& o : kGroups)
      if (o.kind != CategoryKind::kAllow) known += (known.empty() ? "" : " ") + std::string(o.slug);
    error(r.mark.file, r.mark.line, "group '" + group + "' is not a group (known: " + known + ")");
  } else {
    d.group = g->id;
    d.kind = g->kind;
  }
  if (kind == category_kind_name(CategoryKind::kSecurity)) d.kind = CategoryKind::kSecurity;
  else if (kind == category_kind_name(CategoryKind::kContent)) d.kind = CategoryKind::kContent;
  else if (!kind.empty()) error(r.mark.file, r.mark.line, "kind '" + kind + "' must be security or content");
  if (errors_.size() != before) return std::nullopt;
  return d;
}

bool CategoryChecker::check(const CategoryDefinition& d) {
  const size_t before = errors_.size();
  check_id(d.id, std::to_string(d.id), d.mark, d.slug);
  check_slug(d.slug, d.mark);
  if (d.kind == CategoryKind::kAllow) error(d.mark.file, d.mark.line, "kind 'allow' must be security or content");
  if (d.group >= kGroups.size() || kGroups[d.group].kind == CategoryKind::kAllow)
    error(d.mark.file, d.mark.line, "group " + std::to_string(d.group) + " is not a group of categories");
  return errors_.size() == before;
}

bool CategoryChecker::check_id(long n, const std::string& text, const SourceMark& mark, const std::string& slug) {
  if (n < 0 || n >= static_cast<long>(kMaxCategories) || !is_file_category_id(static_cast<unsigned>(n))) {
    error(mark.file, mark.line,
          "id " + text + " is out of range: a file's categories use " + kFileCategoryIds +
              " (0–31 and 64–191 belong to the built-ins)");
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
