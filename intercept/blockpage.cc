#include "intercept/blockpage.h"

#include <cstdio>
#include <fstream>

#include "base/file.h"
#include "base/text.h"
#include "intercept/templates.h"
#include "policy/querylog/format.h"
#include "policy/store/categories.h"
#include "dns/wire.h"

namespace sekisho::intercept {
namespace {

using base::trim;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if ((s[i] | 0x20) != prefix[i]) return false;
  return s.size() == prefix.size() || s[prefix.size()] == '-';
}

// q-value in thousandths; malformed → 0 (the entry is ignored).
int parse_q(std::string_view params) {
  int q = 1000;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() < 2 || (p[0] | 0x20) != 'q' || p[1] != '=') continue;
    std::string_view v = p.substr(2);
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return 0;
    q = (v[0] - '0') * 1000;
    if (v.size() > 1) {
      if (v[1] != '.') return 0;
      int scale = 100;
      for (size_t i = 2; i < v.size() && scale > 0; ++i, scale /= 10) {
        if (v[i] < '0' || v[i] > '9') return 0;
        q += (v[i] - '0') * scale;
      }
    }
    if (q > 1000) return 0;
  }
  return q;
}

std::string time_text(int64_t time_us) {
  std::string iso;
  querylog::append_time(iso, time_us);  // 2026-11-25T04:35:29.123456Z
  return iso.substr(0, 10) + " " + iso.substr(11, 8) + " UTC";
}

std::string category_name(const BlockFacts& f, Lang lang) {
  const policy::CategoryRegistry& registry = f.categories ? *f.categories : policy::CategoryRegistry::builtins();
  const policy::CategoryInfo* info = registry.by_id(f.category);
  if (!info) return lang == Lang::ja ? "（なし）" : "(none)";
  return std::string(lang == Lang::ja ? info->name_ja : info->name_en);
}

std::string rule_sentence(const BlockFacts& f, Lang lang) {
  const std::string cat = category_name(f, lang);
  const bool ja = lang == Lang::ja;
  if (f.posting_refused)
    return ja ? "書き込み規制: カテゴリ「" + cat + "」のサイトは閲覧のみ許可されています（投稿・アップロード・書き込みはできません）"
              : "Posting is restricted: sites in the category \u201c" + cat +
                    "\u201d may be read, but nothing may be posted, uploaded or changed";
  if (f.url_rule)
    return ja ? "このURL（" + f.rule_text + "）はカテゴリ「" + cat + "」に該当し、ポリシーでブロックされています"
              : "This URL (" + f.rule_text + ") is in the category \u201c" + cat + "\u201d, which the policy blocks";
  switch (f.rule) {
    case policy::RuleKind::deny_list:
      return ja ? "拒否リストの項目「" + f.rule_text + "」に一致しました"
                : "The name matches the deny-list entry \u201c" + f.rule_text + "\u201d";
    case policy::RuleKind::schedule:
      return ja ? "カテゴリ「" + cat + "」は時間帯ルール（" + f.rule_text + "）によりブロックされています"
                : "The category \u201c" + cat + "\u201d is blocked during " + f.rule_text;
    case policy::RuleKind::cname:
      return ja ? "転送先の名前 " + f.rule_text + " がブロック対象です（カテゴリ「" + cat + "」）"
                : "The name points to " + f.rule_text + ", which is blocked (category \u201c" + cat + "\u201d)";
    default:
      return ja ? "カテゴリ「" + cat + "」はポリシーでブロックされています"
                : "The category \u201c" + cat + "\u201d is blocked by the policy";
  }
}

}  // namespace

std::string_view lang_code(Lang lang) { return lang == Lang::ja ? "ja" : "en"; }

Lang pick_language(std::string_view accept_language, std::string_view lang_param) {
  if (lang_param == "ja") return Lang::ja;
  if (lang_param == "en") return Lang::en;
  int best_q = 0;
  Lang best = Lang::en;
  std::string_view rest = accept_language;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view tag = trim(item.substr(0, semi));
    const int q = semi == std::string_view::npos ? 1000 : parse_q(item.substr(semi + 1));
    Lang lang;
    if (starts_with_ci(tag, "ja")) lang = Lang::ja;
    else if (starts_with_ci(tag, "en")) lang = Lang::en;
    else continue;
    if (q > best_q) {  // strictly greater: the first of equal preferences wins
      best_q = q;
      best = lang;
    }
  }
  return best;
}

BlockFacts facts_from_verdict(const policy::Verdict& v, const policy::Tenant& tenant, std::string_view name) {
  BlockFacts f;
  f.name = std::string(name);
  f.rule = v.rule;
  f.category = v.category;
  f.categories = &v.category_registry();
  if (v.list_entry) f.rule_text = *v.list_entry;
  if (v.schedule) f.rule_text = v.schedule->description;
  if (v.rule == policy::RuleKind::cname && v.cname) {
    char text[256];
    size_t n = dns::name_to_text(v.cname, v.cname_len, text, sizeof text - 1);
    f.rule_text.assign(text, n);
  }
  char detail[256];
  f.detail.assign(detail, policy::describe_verdict(v, tenant.id, detail, sizeof detail));
  f.tenant_id = tenant.id;
  f.tenant_name = tenant.name.empty() ? tenant.id : tenant.name;
  f.contact = tenant.contact;
  return f;
}

std::string render(std::string_view tmpl, const BlockFacts& f, Lang lang) {
  const bool ja = lang == Lang::ja;
  auto value = [&](std::string_view var) -> std::string {
    if (var == "name") return f.name;
    if (var == "category") return category_name(f, lang);
    if (var == "rule") return rule_sentence(f, lang);
    if (var == "detail") return f.detail;
    if (var == "tenant_name") return f.tenant_name;
    if (var == "contact") return !f.contact.empty() ? f.contact : ja ? "ネットワーク管理者" : "your network administrator";
    if (var == "time") return time_text(f.time_us);
    if (var == "incident") return f.incident;
    if (var == "inspection")
      return f.inspection ? (ja ? "有効: このネットワークでは一部のHTTPS通信の内容が検査されます"
                                : "Active: some HTTPS traffic on this network is inspected")
                          : (ja ? "無効" : "Not active");
    if (var == "switch_href") return ja ? "?lang=en" : "?lang=ja";
    if (var == "lang") return std::string(lang_code(lang));
    return {};
  };
  std::string out;
  out.reserve(tmpl.size() + 512);
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find("{{", pos);
    size_t close = open == std::string_view::npos ? open : tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    out += base::escape_markup(value(trim(tmpl.substr(open + 2, close - open - 2))));
    pos = close + 2;
  }
  return out;
}

std::shared_ptr<const Templates> Templates::load(const std::string& template_dir, const std::vector<std::string>& tenants,
                                                 std::vector<std::string>& warnings) {
  auto t = std::make_shared<Templates>();
  for (const auto& e : embedded_templates()) {
    if (e.file == "blockpage.en.html") t->defaults_[0] = std::string(e.text);
    if (e.file == "blockpage.ja.html") t->defaults_[1] = std::string(e.text);
  }
  if (template_dir.empty()) return t;
  for (const auto& tenant : tenants) {
    for (Lang lang : {Lang::en, Lang::ja}) {
      const std::string key = tenant + "." + std::string(lang_code(lang));
      const std::string path = template_dir + "/" + key + ".html";
      std::ifstream probe(path);
      if (!probe) continue;  // no override for this tenant and language
      std::optional<std::string> text = base::read_file(path);
      if (!text || text->empty()) {
        warnings.push_back(path + ": cannot read the block-page template; using the built-in one");
        continue;
      }
      t->overrides_.emplace(key, std::move(*text));
    }
  }
  return t;
}

const std::string& Templates::get(std::string_view tenant, Lang lang) const {
  std::string key(tenant);
  key += '.';
  key += lang_code(lang);
  auto it = overrides_.find(key);
  return it != overrides_.end() ? it->second : defaults_[lang == Lang::ja ? 1 : 0];
}

}  // namespace sekisho::intercept
