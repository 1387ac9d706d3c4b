// policy/import/rpz_rule.cc — one RPZ record → an entry, nothing, or a refusal (see rpz_rule.h).
#include "policy/import/rpz_rule.h"

#include <cstdlib>

#include "policy/store/entry_codec.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::policy {
namespace {

bool has_label(std::string_view name, std::string_view label) {
  size_t pos = 0;
  while (true) {
    size_t end = name.find('.', pos);
    std::string_view l = name.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (l == label) return true;
    if (end == std::string_view::npos) return false;
    pos = end + 1;
  }
}

}  // namespace

std::string rpz_rdf_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

void rpz_rule(std::string_view owner, uint16_t type, bool one_name, std::string_view target, std::string_view apex,
              RpzRule& rule) {
  rule.kind = RpzRule::Kind::ignore;
  rule.name.clear();
  rule.flags = 0;
  rule.passthru = false;
  rule.reason.clear();
  // Strip the apex: "bad.example.rpz.zone." -> "bad.example".
  std::string_view name = owner;
  if (!apex.empty() && name.size() > apex.size() && name.ends_with(apex) && name[name.size() - apex.size() - 1] == '.')
    name.remove_suffix(apex.size() + 1);
  else if (!apex.empty() && name == apex)
    name = ".";
  if (type == LDNS_RR_TYPE_SOA || name == "." || type == LDNS_RR_TYPE_NS) return;  // apex: no policy
  if (name.ends_with(".")) name.remove_suffix(1);
  rule.kind = RpzRule::Kind::refuse;
  for (std::string_view trig : {"rpz-client-ip", "rpz-ip", "rpz-nsdname", "rpz-nsip"}) {
    if (has_label(name, trig)) {
      rule.reason = std::string(trig) + " trigger not supported (name triggers only)";
      return;
    }
  }
  uint8_t flags = kFlagExact;
  if (name.starts_with("*.")) {
    flags = kFlagSubtree;
    name.remove_prefix(2);
  }
  if (type != LDNS_RR_TYPE_CNAME || !one_name) {
    char* t = ldns_rr_type2str(static_cast<ldns_rr_type>(type));
    rule.reason = "local-data " + std::string(t ? t : "?") + " record not supported (CNAME actions only)";
    free(t);
    return;
  }
  // A target below the apex names the action relative to the zone ("rpz-drop.rpz.example.").
  if (!apex.empty() && target.size() > apex.size() && target.ends_with(apex) &&
      target[target.size() - apex.size() - 1] == '.')
    target.remove_suffix(apex.size());
  if (target == "." || target == "*." || target == "rpz-drop." || target == "rpz-passthru.") {
    rule.kind = RpzRule::Kind::entry;
    rule.name.assign(name);
    rule.flags = flags;
    rule.passthru = target == "rpz-passthru.";
  } else if (target == "rpz-tcp-only.") {
    rule.reason = "rpz-tcp-only action not supported";
  } else {
    rule.reason = "CNAME rewrite to " + std::string(target) + " not supported (local data)";
  }
}

RpzRule rpz_rule(const ldns_rr* rr, std::string_view apex) {
  RpzRule rule;
  const bool one_rdf = ldns_rr_rd_count(rr) == 1;
  const std::string target = one_rdf ? rpz_rdf_text(ldns_rr_rdf(rr, 0)) : std::string();
  rpz_rule(rpz_rdf_text(ldns_rr_owner(rr)), static_cast<uint16_t>(ldns_rr_get_type(rr)), one_rdf, target, apex, rule);
  return rule;
}

}  // namespace sekisho::policy
