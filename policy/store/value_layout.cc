// policy/store/value_layout.cc — first-layout values rewritten in the current layout.
#include "policy/store/value_layout.h"

#include <memory>
#include <utility>
#include <vector>

#include "policy/store/entry_codec.h"
#include "policy/store/lmdb_util.h"

namespace sekisho::policy {

uint64_t relay_legacy_values(MDB_txn* txn, MDB_dbi dbi, const std::string& what) {
  // Read a batch with a cursor, then write it with mdb_put: a put of another size at a cursor
  // (MDB_CURRENT) may split or merge its page, after which the walk goes astray.
  constexpr size_t kBatch = 65536;
  EntryHeader header;
  std::vector<Contribution> contribs;
  std::vector<std::pair<std::string, std::string>> batch;
  std::string resume;
  bool started = false, done = false;
  uint64_t n = 0;
  while (!done) {
    batch.clear();
    {
      MDB_cursor* cur;
      mdb_check(mdb_cursor_open(txn, dbi, &cur), what + ": cursor");
      std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cur, mdb_cursor_close);
      MDB_val k = to_val(resume), v;
      int rc = started ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
      if (started && rc == MDB_SUCCESS && from_val(k) == resume) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
      started = true;
      for (; rc == MDB_SUCCESS && batch.size() < kBatch; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        resume.assign(from_val(k));
        if (!is_legacy_entry_size(v.mv_size)) continue;
        if (!decode_entry(from_val(v), header, contribs)) throw StoreError(what + ": corrupt entry " + resume);
        batch.emplace_back(resume, std::string());
        encode_entry(contribs, batch.back().second);
      }
      if (rc == MDB_NOTFOUND) done = true;
      else if (rc != MDB_SUCCESS) mdb_check(rc, what + ": walk");
    }
    for (const auto& [key, value] : batch) {
      MDB_val k = to_val(key), v = to_val(value);
      mdb_check(mdb_put(txn, dbi, &k, &v, 0), what + ": rewrite " + key);
    }
    n += batch.size();
  }
  return n;
}

}  // namespace sekisho::policy
