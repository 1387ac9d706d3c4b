// policy/import/format_rpz.cc — Response Policy Zone files, parsed with ldns.
//
// Name triggers only (QNAME policy): `name CNAME .` (NXDOMAIN), `CNAME *.` (NODATA) and
// `CNAME rpz-drop.` become block entries with --category; `CNAME rpz-passthru.` becomes an allow
// entry. `name` is exact, `*.name` is a subtree entry (it also covers `name` itself: a
// documented widening, since lists nearly always carry both). IP, client-IP and NSDNAME/NSIP
// triggers, local data (A, AAAA, TXT, CNAME to a name) and rpz-tcp-only are refused with a reason.
// Owner names come out of ldns absolute; when the zone has an apex (from $ORIGIN / the SOA
// owner) the apex suffix is stripped, so a zone read with or without its origin gives the same
// entries.
#include <cstdio>
#include <memory>
#include <string>

#include "policy/import/importer.h"
#include "policy/store/entry_codec.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::policy {
namespace {

std::string rdf_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

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
      if (origin) apex = rdf_text(origin);
      continue;
    }
    ++sink.report().lines;
    if (st != LDNS_STATUS_OK) {
      sink.refuse(line, std::string("unparsable record: ") + ldns_get_errorstr_by_id(st), "");
      continue;
    }
    std::unique_ptr<ldns_rr, void (*)(ldns_rr*)> rr_guard(rr, ldns_rr_free);
    std::string owner = rdf_text(ldns_rr_owner(rr));
    ldns_rr_type type = ldns_rr_get_type(rr);
    if (type == LDNS_RR_TYPE_SOA) {
      apex = owner == "." ? "" : owner;
      sink.ignore();
      continue;
    }
    // Strip the apex: "bad.example.rpz.zone." -> "bad.example".
    std::string name = owner;
    if (!apex.empty() && name.size() > apex.size() && name.ends_with("." + apex))
      name.resize(name.size() - apex.size() - 1);
    else if (!apex.empty() && name == apex)
      name = ".";
    if (name == "." || type == LDNS_RR_TYPE_NS) {
      sink.ignore();  // apex records (SOA, NS) carry no policy
      continue;
    }
    if (name.ends_with(".")) name.pop_back();
    for (std::string_view trig : {"rpz-client-ip", "rpz-ip", "rpz-nsdname", "rpz-nsip"}) {
      if (has_label(name, trig)) {
        sink.refuse(line, std::string(trig) + " trigger not supported (name triggers only)", name);
        goto next;
      }
    }
    {
      uint8_t flags = kFlagExact;
      if (name.starts_with("*.")) {
        flags = kFlagSubtree;
        name.erase(0, 2);
      }
      if (type != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) != 1) {
        char* t = ldns_rr_type2str(type);
        std::string tn = t ? t : "?";
        free(t);
        sink.refuse(line, "local-data " + tn + " record not supported (CNAME actions only)", owner);
        continue;
      }
      std::string target = rdf_text(ldns_rr_rdf(rr, 0));
      if (!apex.empty() && target.ends_with("." + apex)) target.resize(target.size() - apex.size());
      if (target == "." || target == "*." || target == "rpz-drop.") {
        sink.add_name(name, flags, block, line);
      } else if (target == "rpz-passthru.") {
        sink.add_name(name, flags, allow, line);
      } else if (target == "rpz-tcp-only.") {
        sink.refuse(line, "rpz-tcp-only action not supported", owner);
      } else {
        sink.refuse(line, "CNAME rewrite to " + target + " not supported (local data)", owner);
      }
    }
  next:;
  }
  if (origin) ldns_rdf_deep_free(origin);
  if (prev) ldns_rdf_deep_free(prev);
}

}  // namespace sekisho::policy
