// policy/import/csv_export.cc — the store as csv (see csv_export.h).
#include "policy/import/csv_export.h"

#include <string>
#include <vector>

#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"

namespace sekisho::policy {
namespace {

// Slugs joined with ';', the csv importer's separator (',' separates fields).
void write_categories(std::ostream& out, const CategoryRegistry& registry, CategorySet cats) {
  bool first = true;
  for (unsigned id = 0; id < kMaxCategories; ++id) {
    if (!cats.contains(static_cast<uint8_t>(id))) continue;
    if (!first) out << ';';
    first = false;
    if (const CategoryInfo* c = registry.by_id(static_cast<uint8_t>(id))) out << c->slug;
    else out << '#' << id;  // no registry names it: the importer refuses the row, saying so
  }
}

// A field as RFC 4180 §2 writes it: quoted when it holds ',', '"' or blanks at an end.
void write_field(std::ostream& out, std::string_view s) {
  const bool quote = s.find_first_of(",\"") != std::string_view::npos ||
                     (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t'));
  if (!quote) {
    out << s;
    return;
  }
  out << '"';
  for (char c : s) {
    if (c == '"') out << '"';
    out << c;
  }
  out << '"';
}

}  // namespace

ExportReport export_csv(CategoryStore& store, const CategoryRegistry& registry, std::optional<uint16_t> source_id,
                        std::ostream& out) {
  ExportReport report;
  TxnGuard txn(store.env(), MDB_RDONLY, store.path() + ": export");
  EntryHeader h;
  std::vector<Contribution> contribs;
  out << "name,categories,scope\n";
  // What one source says about a key, or nullptr.
  auto of_source = [&]() -> const Contribution* {
    for (const auto& c : contribs)
      if (c.source_id == *source_id) return &c;
    return nullptr;
  };
  auto walk = [&](MDB_dbi dbi, bool urls) {
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn.get(), dbi, &cur), store.path() + ": export");
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (!decode_entry(from_val(v), h, contribs)) continue;
      CategorySet cats;
      bool subtree = false;
      if (source_id) {
        const Contribution* c = of_source();
        if (!c || (!urls && !(c->flags & (kFlagSubtree | kFlagExact)))) continue;
        cats = c->cats;
        subtree = c->flags & kFlagSubtree;
      } else {
        cats = h.all;
        subtree = !h.subtree.empty();
        if (subtree && h.subtree != h.all) ++report.widened;
      }
      if (cats.empty()) continue;  // a URL-host marker: its URL rows say it
      const std::string_view key = from_val(k);
      if (urls) {
        const size_t slash = key.find('/');
        write_field(out, key_to_name(key.substr(0, slash)) + std::string(key.substr(slash)));
        out << ',';
        write_categories(out, registry, cats);
        out << ",url\n";
        ++report.url_rows;
      } else {
        out << key_to_name(key) << ',';
        write_categories(out, registry, cats);
        out << (subtree ? ",subtree\n" : ",exact\n");
        ++report.domain_rows;
      }
    }
    mdb_cursor_close(cur);
  };
  walk(store.domains_dbi(), false);
  walk(store.urls_dbi(), true);
  return report;
}

}  // namespace sekisho::policy
