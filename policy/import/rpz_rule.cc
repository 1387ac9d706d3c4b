// policy/import/rpz_rule.cc — one RPZ record → an entry, nothing, or a refusal (see rpz_rule.h).
#include "policy/import/rpz_rule.h"

#include <cstdlib>

#include "policy/store/entry_codec.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::policy {
namespace {

bool has_label(const std::string& name, std::string_view label) {
  size_t pos = 0;
  while (true) {
    size_t end = name.find('.', pos);
    std::string_view l = std::string_view(name).substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (l == label) return true;
    if (end == std::string::npos) return false;
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

RpzRule rpz_rule(const ldns_rr* rr, std::string_view apex_view) {
  RpzRule rule;
  const std::string apex(apex_view);
  const std::string owner = rpz_rdf_text(ldns_rr_owner(rr));
  const ldns_rr_type type = ldns_rr_get_type(rr);
  // Strip the apex: "bad.example.rpz.zone." -> "bad.example".
  std::string name = owner;
  if (!apex.empty() && name.size() > apex.size() && name.ends_with("." + apex))
    name.resize(name.size() - apex.size() - 1);
  else if (!apex.empty() && name == apex)
    name = ".";
  if (type == LDNS_RR_TYPE_SOA || name == "." || type == LDNS_RR_TYPE_NS) return rule;  // apex: no policy
  if (name.ends_with(".")) name.pop_back();
  rule.kind = RpzRule::Kind::refuse;
  for (std::string_view trig : {"rpz-client-ip", "rpz-ip", "rpz-nsdname", "rpz-nsip"}) {
    if (has_label(name, trig)) {
      rule.reason = std::string(trig) + " trigger not supported (name triggers only)";
      return rule;
    }
  }
  uint8_t flags = kFlagExact;
  if (name.starts_with("*.")) {
    flags = kFlagSubtree;
    name.erase(0, 2);
  }
  if (type != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) != 1) {
    char* t = ldns_rr_type2str(type);
    rule.reason = "local-data " + std::string(t ? t : "?") + " record not supported (CNAME actions only)";
    free(t);
    return rule;
  }
  std::string target = rpz_rdf_text(ldns_rr_rdf(rr, 0));
  if (!apex.empty() && target.ends_with("." + apex)) target.resize(target.size() - apex.size());
  if (target == "." || target == "*." || target == "rpz-drop." || target == "rpz-passthru.") {
    rule.kind = RpzRule::Kind::entry;
    rule.name = std::move(name);
    rule.flags = flags;
    rule.passthru = target == "rpz-passthru.";
  } else if (target == "rpz-tcp-only.") {
    rule.reason = "rpz-tcp-only action not supported";
  } else {
    rule.reason = "CNAME rewrite to " + target + " not supported (local data)";
  }
  return rule;
}

}  // namespace sekisho::policy
