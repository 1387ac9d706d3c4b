// policy/store/category_table.cc — reading, checking and writing the `categories` DB.
#include "policy/store/category_table.h"

#include "policy/store/categories.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"

namespace sekisho::policy {
namespace {

std::string origin(const CategoryInfo& c) {
  return c.defined_at.empty() ? std::string("the built-ins") : std::string(c.defined_at);
}

}  // namespace

std::vector<StoredCategory> read_category_table(MDB_txn* txn) {
  std::vector<StoredCategory> out;
  MDB_dbi dbi;
  if (mdb_dbi_open(txn, schema::kDbCategories, 0, &dbi) != MDB_SUCCESS) return out;
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn, dbi, &cur), "categories DB");
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    // value: "id \t group \t English \t Japanese"
    std::string value(from_val(v));
    std::vector<std::string> f;
    for (size_t pos = 0;;) {
      size_t tab = value.find('\t', pos);
      f.push_back(value.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
      if (tab == std::string::npos) break;
      pos = tab + 1;
    }
    StoredCategory c;
    c.slug = std::string(from_val(k));
    unsigned long id = f.empty() ? kMaxCategories : std::strtoul(f[0].c_str(), nullptr, 10);
    if (id >= kMaxCategories) continue;  // not ours to judge; verify reports the entries
    c.id = static_cast<uint8_t>(id);
    if (f.size() > 1) c.group = f[1];
    if (f.size() > 2) c.name_en = f[2];
    if (f.size() > 3) c.name_ja = f[3];
    out.push_back(std::move(c));
  }
  mdb_cursor_close(cur);
  return out;
}

std::vector<std::string> category_conflicts(const std::vector<StoredCategory>& stored, const CategoryRegistry& registry) {
  std::vector<std::string> out;
  for (const auto& s : stored) {
    if (const CategoryInfo* by_id = registry.by_id(s.id); by_id && by_id->slug != s.slug)
      out.push_back("id " + std::to_string(s.id) + " is '" + s.slug + "' in the store but '" + std::string(by_id->slug) +
                    "' in " + origin(*by_id) + " (ids are bit positions of stored entries: give '" +
                    std::string(by_id->slug) + "' an unused id)");
    if (const CategoryInfo* by_slug = registry.by_slug(s.slug); by_slug && by_slug->id != s.id)
      out.push_back("'" + s.slug + "' has id " + std::to_string(by_slug->id) + " in " + origin(*by_slug) +
                    " but id " + std::to_string(s.id) + " in the store (keep id " + std::to_string(s.id) + ")");
  }
  return out;
}

void check_category_table(MDB_txn* txn, const std::string& what, const CategoryRegistry& registry) {
  auto conflicts = category_conflicts(read_category_table(txn), registry);
  if (conflicts.empty()) return;
  std::string msg = what + ": the categories file disagrees with the store:";
  for (const auto& c : conflicts) msg += "\n  " + c;
  throw StoreError(msg);
}

void write_category_table(MDB_txn* txn, const std::string& what, const CategoryRegistry& registry) {
  check_category_table(txn, what, registry);
  MDB_dbi dbi;
  mdb_check(mdb_dbi_open(txn, schema::kDbCategories, MDB_CREATE, &dbi), what + ": categories");
  for (const auto& c : registry.all()) {
    std::string value = std::to_string(c.id) + '\t' + std::string(config::category_kind_name(c.kind)) + '\t' + std::string(c.name_en) + '\t' +
                        std::string(c.name_ja);
    MDB_val k = to_val(c.slug), v = to_val(value);
    mdb_check(mdb_put(txn, dbi, &k, &v, 0), what + ": write category " + std::string(c.slug));
  }
}

}  // namespace sekisho::policy
