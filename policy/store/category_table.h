// policy/store/category_table.h — the store's `categories` DB: which slug each stored id means.
//
// Every import writes its registry (built-ins and the categories file's additions) into the
// DB in its own write txn, so the store remembers the id of every category its entries may
// carry. A registry that gives a stored id another slug, or a stored slug another id, would
// silently relabel entries: the import refuses it, and so does opening the store (sekishod at
// start-up, every `sekisho db` command), naming the file:line of the definition.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "policy/store/categories.h"

namespace sekisho::policy {

struct StoredCategory {
  uint8_t id = 0;
  std::string slug;
  std::string group;  // security | content | allow
  std::string name_en;
  std::string name_ja;
};

// The DB's rows (none if the DB does not exist yet).
std::vector<StoredCategory> read_category_table(MDB_txn* txn);
// Disagreements between `stored` and `registry`, one message each.
std::vector<std::string> category_conflicts(const std::vector<StoredCategory>& stored, const CategoryRegistry& registry);
// Throws StoreError listing the conflicts (prefixed with `what`) if there are any.
void check_category_table(MDB_txn* txn, const std::string& what, const CategoryRegistry& registry);
// check_category_table, then writes every registry category. Rows of categories the registry
// no longer has stay, so their ids are never given to another slug by accident.
void write_category_table(MDB_txn* txn, const std::string& what, const CategoryRegistry& registry);

}  // namespace sekisho::policy
