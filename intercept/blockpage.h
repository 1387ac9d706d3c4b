// The block page: what a blocked user sees, in Japanese or English, with the same reason the
// DNS answer's EDE carries (policy/decide's describe_verdict) and the incident ID of the
// query-log record (policy/querylog/incident.h). Templates are HTML with {{variables}}; every
// value is HTML-escaped when substituted, so a hostile Host header or tenant text stays text.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decide.h"
#include "policy/policy.h"

namespace sekisho::intercept {

enum class Lang { en, ja };

std::string_view lang_code(Lang lang);  // "en", "ja"

// ?lang=ja|en wins; else the Accept-Language entry with the highest q (RFC 9110 §12.5.4) among
// ja* and en*; else English.
Lang pick_language(std::string_view accept_language, std::string_view lang_param);

// Everything the page shows, as plain text (escaped only when rendered).
struct BlockFacts {
  std::string name;             // the blocked host (or host/path for a URL rule)
  policy::RuleKind rule = policy::RuleKind::none;
  bool url_rule = false;        // decided by a URL entry of the category store (deep inspection)
  bool posting_refused = false; // a read-only host: reading passes, this request posted
  uint16_t category = policy::kNoCategory;  // deciding category id; kNoCategory when a list decided
  const policy::CategoryRegistry* categories = nullptr;  // names `category`; null: the built-ins
  std::string rule_text;        // deny-list pattern, schedule description, CNAME target, URL entry
  std::string detail;           // describe_verdict(): the DNS answer's EDE text
  std::string tenant_id;
  std::string tenant_name;
  std::string contact;
  int64_t time_us = 0;
  std::string incident;
  bool inspection = false;      // HTTPS inspection active for this tenant
};

// Facts from a DNS-path verdict (block) for `name` as the tenant's policy decided it now.
BlockFacts facts_from_verdict(const policy::Verdict& v, const policy::Tenant& tenant, std::string_view name);

// {{name}} {{category}} {{rule}} {{detail}} {{tenant_name}} {{contact}} {{time}} {{incident}}
// {{inspection}} {{switch_href}} {{lang}}; an unknown {{x}} renders as nothing.
std::string render(std::string_view tmpl, const BlockFacts& facts, Lang lang);

// The embedded templates plus per-tenant overrides read once from
// <template_dir>/<tenant>.<en|ja>.html (a reload builds a new set).
class Templates {
 public:
  // Unreadable override files are reported in `warnings` and the embedded page is used.
  static std::shared_ptr<const Templates> load(const std::string& template_dir, const std::vector<std::string>& tenants,
                                               std::vector<std::string>& warnings);
  const std::string& get(std::string_view tenant, Lang lang) const;
  size_t overrides() const { return overrides_.size(); }

 private:
  std::string defaults_[2];
  std::map<std::string, std::string, std::less<>> overrides_;  // "<tenant>.<lang>" → template
};

}  // namespace sekisho::intercept
