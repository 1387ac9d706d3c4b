// policy/import/format_rpz.cc — Response Policy Zone files, parsed with ldns; what each record
// means is rpz_rule.h's (shared with the zone-transfer feed). Owner names come out of ldns
// absolute; when the zone has an apex (from $ORIGIN / the SOA owner) it is stripped, so a zone
// read with or without its origin gives the same entries.
#include <cstdio>
#include <memory>
#include <string>

#include "policy/import/importer.h"
#include "policy/import/rpz_rule.h"
#include "policy/store/entry_codec.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::policy {

void parse_rpz(const std::string& text, ImportSink& sink) {
  FILE* fp = fmemopen(const_cast<char*>(text.data()), text.size(), "r");
  if (!fp) throw ImportError("rpz: fmemopen failed");
  std::unique_ptr<FILE, int (*)(FILE*)> fp_guard(fp, fclose);
  const CategorySet block = sink.options().categories;
  CategorySet allow;
  allow.add(allowlist_category_id());

  uint32_t ttl = 3600;
  ldns_rdf* origin = nullptr;
  ldns_rdf* prev = nullptr;
  int line_nr = 0;
  std::string apex;  // zone apex with trailing dot, e.g. "rpz.example." ("" = root / unknown)
  while (true) {
    int c = fgetc(fp);
    if (c == EOF) break;
    ungetc(c, fp);
    ldns_rr* rr = nullptr;
    ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line_nr);
    uint64_t line = static_cast<uint64_t>(line_nr);
    if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL) continue;
    if (st == LDNS_STATUS_SYNTAX_ORIGIN) {
      if (origin) apex = rpz_rdf_text(origin);
      continue;
    }
    ++sink.report().lines;
    if (st != LDNS_STATUS_OK) {
      sink.refuse(line, std::string("unparsable record: ") + ldns_get_errorstr_by_id(st), "");
      continue;
    }
    std::unique_ptr<ldns_rr, void (*)(ldns_rr*)> rr_guard(rr, ldns_rr_free);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
      const std::string owner = rpz_rdf_text(ldns_rr_owner(rr));
      apex = owner == "." ? "" : owner;
    }
    const RpzRule rule = rpz_rule(rr, apex);
    switch (rule.kind) {
      case RpzRule::Kind::ignore:
        sink.ignore();
        break;
      case RpzRule::Kind::refuse:
        sink.refuse(line, rule.reason, rpz_rdf_text(ldns_rr_owner(rr)));
        break;
      case RpzRule::Kind::entry:
        sink.add_name(rule.name, rule.flags, rule.passthru ? allow : block, line);
        break;
    }
  }
  if (origin) ldns_rdf_deep_free(origin);
  if (prev) ldns_rdf_deep_free(prev);
}

}  // namespace sekisho::policy
