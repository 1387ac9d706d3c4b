#include "policy/store/file_sharing.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "policy/store/lmdb_util.h"

namespace sekisho::policy {

namespace {

void add_group_bits(const std::string& file, mode_t wanted) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return;  // not created (yet): nothing to share
  if ((st.st_mode & wanted) == wanted || st.st_uid != ::geteuid()) return;
  if (::chmod(file.c_str(), (st.st_mode & 07777) | wanted) != 0)
    throw StoreError(file + ": cannot share with the group: " + std::strerror(errno));
}

}  // namespace

void share_store_files_with_group(const std::string& dir) {
  // A store directory made inside the shared setgid directory inherits setgid (Linux mkdir); its
  // own mode still came from the creator's umask, and readers must enter it and may have to
  // recreate lock.mdb. Outside a shared layout the directory is left as the umask made it.
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & S_ISGID))
    add_group_bits(dir, S_IRGRP | S_IWGRP | S_IXGRP);
  add_group_bits(dir + "/data.mdb", S_IRGRP);
  add_group_bits(dir + "/lock.mdb", S_IRGRP | S_IWGRP);
}

}  // namespace sekisho::policy
