// Whole files: read in one call, and replaced as a whole, so that a reader, or the machine after
// a crash, sees the old content or the new one, never a torn file. The atomic write is used for
// everything sekisho rewrites in place: tenants.d files (CLI and admin API), daily statistics,
// minted leaf certificates and exported profiles.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace sekisho::base {

struct AtomicWrite {
  mode_t mode = 0600;
  // By default the file gets exactly `mode` (a key must be 0600 whatever the umask); true lets
  // the umask narrow it as open(2) does, for files whose mode the service's UMask= decides.
  bool umask_narrows = false;
  // Set: the file is given this owner before it appears (only root may give a file away).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Writes `bytes` to `path`: a new temporary file in the same directory (".<name>.tmp-<pid>-<random>",
// so loaders that read *.yaml, *.pem or *.jsonl never see it), fsync, rename over `path`, then
// fsync of the directory, since the rename is durable only once the directory entry is.
// Returns "" on success, else what failed, naming the file and the system's reason; a temporary
// file is never left behind.
std::string write_file_atomically(const std::string& path, std::string_view bytes, const AtomicWrite& how = {});

// Removes from `dir` the temporary files write_file_atomically left behind when its process died
// between creating and renaming one (a crash, kill -9, power loss): names of its form whose pid
// no longer runs. A live writer's file is never touched. Returns how many were removed; a
// directory that cannot be read removes nothing.
size_t remove_abandoned_temporaries(const std::string& dir);

// Creates `dir` and any missing parent: parents as 0755 and `dir` itself as `mode`, both at
// most (the umask may narrow them), unlike std::filesystem::create_directories, which asks for
// 0777 and so leaves world-writable parents under umask 000. An existing `dir` is left as it
// is. Returns "" on success, else what failed, naming the directory and the system's reason.
std::string make_directories(const std::string& dir, mode_t mode = 0755);

// The file's bytes; nullopt when it cannot be opened or read, with errno saying why (ENOENT:
// there is no such file).
std::optional<std::string> read_file(const std::string& path);

// write(2) until every byte is written, retrying on EINTR. False (errno set) on failure.
bool write_all(int fd, std::string_view bytes);

}  // namespace sekisho::base
