// policy/store/file_sharing.h — keep a store usable by every user of its group.
//
// sekishod, sekisho-intercept and an admin's `sekisho db import` run as different users sharing
// the `sekisho` group (systemd/sekisho.tmpfiles). LMDB creates data.mdb and lock.mdb with its
// creator's umask, yet every reader must read data.mdb and write lock.mdb (reader slots), so a
// store created under umask 022 or 077 would lock the services out.
#pragma once

#include <string>

namespace sekisho::policy {

// Adds group read to data.mdb and group read-write to lock.mdb in the store directory `dir`, and
// group rwx to `dir` itself when it is setgid (the shared layout), for the files this process owns (only the owner may chmod; another owner's files were shared
// when that owner opened them). Throws StoreError naming the file when chmod fails.
void share_store_files_with_group(const std::string& dir);

}  // namespace sekisho::policy
