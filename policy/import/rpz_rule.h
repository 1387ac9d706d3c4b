// policy/import/rpz_rule.h — what one Response Policy Zone record means for the category store
// (draft-vixie-dnsop-dns-rpz), shared by the RPZ file importer (format_rpz.cc) and the zone-
// transfer feed (feed/), so a zone read from a file and the same zone transferred give the same
// entries.
//
// Name triggers only (QNAME policy, draft §4.1): `name CNAME .` (NXDOMAIN), `CNAME *.` (NODATA)
// and `CNAME rpz-drop.` are block entries; `CNAME rpz-passthru.` an allow entry. `name` is
// exact; `*.name` is a subtree entry, which also covers `name` itself (a documented widening:
// lists nearly always carry both, and the store has no "subdomains only" scope). IP, client-IP
// and NSDNAME/NSIP triggers, local data (A, AAAA, TXT, CNAME to a name) and rpz-tcp-only are
// refused with a reason; apex records (SOA, NS) are ignored. Owner names are relative to the
// zone apex (draft §2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

typedef struct ldns_struct_rr ldns_rr;
typedef struct ldns_struct_rdf ldns_rdf;

namespace sekisho::policy {

struct RpzRule {
  enum class Kind { entry, ignore, refuse };
  Kind kind = Kind::ignore;
  std::string name;       // entry: the trigger name below the apex, without "*." or a final dot
  uint8_t flags = 0;      // entry: kFlagExact or kFlagSubtree
  bool passthru = false;  // entry: rpz-passthru (an allow entry), else a block entry
  std::string reason;     // refuse: why
};

// `apex`: the zone's apex, lower case with its final dot ("rpz.example."), "" when unknown.
RpzRule rpz_rule(const ldns_rr* rr, std::string_view apex);

// The same from the record's presentation text, lowercased (as rpz_rdf_text gives it): `owner`
// with its final dot, the type, and `target`, the rdata's one field when `one_name` (a CNAME has
// exactly one). Fills `rule` in place so that a caller mapping millions of transferred records
// reuses its strings' storage (sekisho-feed reads records from the wire, not as ldns objects).
void rpz_rule(std::string_view owner, uint16_t type, bool one_name, std::string_view target, std::string_view apex,
              RpzRule& rule);

// A name or other rdata field as presentation text, ASCII-lowercased.
std::string rpz_rdf_text(const ldns_rdf* rdf);

}  // namespace sekisho::policy
