// policy/store/value_layout.h — moving values of the first layout (64-bit category sets,
// entry_codec.h) to the current one. Nothing requires it: readers decode both layouts, and an
// import writes the current one for every key it touches. `sekisho db compact` does it for the
// rest, so a store written before ids went past 63 ends up wholly in the smaller layout.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>

namespace sekisho::policy {

// Rewrites every value of `dbi` still in the first layout, in the caller's write txn; the
// contributions (and so every lookup and the lookup index) stay the same. Returns how many.
// Throws StoreError on a value neither layout decodes.
uint64_t relay_legacy_values(MDB_txn* txn, MDB_dbi dbi, const std::string& what);

}  // namespace sekisho::policy
