// policy/store/lmdb_util.h — LMDB helpers for the control plane: error text in one place,
// RAII for write transactions. Nothing here is used on the lookup path (it throws).
#pragma once

#include <lmdb.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace sekisho::policy {

class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, int rc)
      : std::runtime_error(what + ": " + mdb_strerror(rc)), rc_(rc) {}
  explicit StoreError(const std::string& what) : std::runtime_error(what), rc_(0) {}
  int code() const { return rc_; }

 private:
  int rc_;
};

inline void mdb_check(int rc, const std::string& what) {
  if (rc != MDB_SUCCESS) throw StoreError(what, rc);
}

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view from_val(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// Aborts on destruction unless committed; used by every control-plane transaction.
class TxnGuard {
 public:
  TxnGuard(MDB_env* env, unsigned flags, const std::string& what) {
    mdb_check(mdb_txn_begin(env, nullptr, flags, &txn_), what + ": begin transaction");
  }
  ~TxnGuard() {
    if (txn_) mdb_txn_abort(txn_);
  }
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  MDB_txn* get() const { return txn_; }
  void commit(const std::string& what) {
    MDB_txn* t = txn_;
    txn_ = nullptr;
    mdb_check(mdb_txn_commit(t), what + ": commit");
  }

 private:
  MDB_txn* txn_ = nullptr;
};

}  // namespace sekisho::policy
