// policy/import/csv_export.h — `sekisho db export`: the store's entries in the csv format that
// `sekisho db import --format csv` reads (format_lines.cc), so an export imports back exactly.
//
//   name,categories,scope           header row (the importer skips it)
//   casino.example,gambling,subtree   every category of the entry, ';' between them
//   1.2.3.4,malware;phishing,exact
//   ok.example,allowlist,subtree      allow entries carry the allowlist category
//   "shop.example/a,b",adult,url      a URL entry: host/path; fields quoted as RFC 4180 says
//
// Rows follow the store's key order, so the same entries always export to the same bytes.
// One source's export (`--source`) is that source exactly. The whole store's is the union that
// lookups see; where two sources give one name different scopes (one exact, one subtree with
// other categories) one row cannot hold both, and the row is written with subtree scope — the
// report counts those names (export each source for a copy that keeps them apart).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>

#include "policy/store/categories.h"

namespace sekisho::policy {

class CategoryStore;

struct ExportReport {
  uint64_t domain_rows = 0, url_rows = 0;
  uint64_t widened = 0;  // whole-store export: names whose exact-only categories became subtree
};

// source_id: only that source's contributions; nullopt: the whole store. One read transaction.
ExportReport export_csv(CategoryStore& store, const CategoryRegistry& registry, std::optional<uint16_t> source_id,
                        std::ostream& out);

}  // namespace sekisho::policy
