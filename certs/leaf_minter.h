// Leaf certificates for the names sekisho-intercept terminates TLS for, signed by one tenant's
// CA. A leaf is minted on first use, kept in a bounded in-memory LRU and on disk (one 0600 file
// per name holding key and certificate), and reused until it comes near expiry. The caller
// decides *whether* a name may get a certificate (blocked or deep-check for the client's tenant)
// and whether this client may have one minted now (its rate); this class only refuses names that
// are not host names.
//
// The disk cache is bounded too: random subdomains of a blocked subtree would otherwise leave a
// file each, for ever. Files are deleted oldest first once there are more than
// `max_disk_entries` or they hold more than `max_disk_bytes`, and when they are older than the
// leaves' validity (expired); at construction the directory is swept: expired leaves and the
// temporary files a crash left behind (".<name>.tmp-…", base/file.h) are deleted and the rest
// indexed by their time of writing. Files of other names are left alone and not counted. File
// ages are read on the system clock (they are compared with the files' mtimes), not the Clock
// given for the leaves' validity.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "certs/ca.h"
#include "base/keyed_hash.h"
#include "base/openssl_util.h"
#include "certs/cert_error.h"

namespace sekisho::certs {

struct Leaf {
  std::string name;      // the SNI name, lower-case; the only SAN
  base::X509Ptr cert;
  base::PkeyPtr key;
  int64_t not_after = 0;  // Unix seconds
};

struct MinterOptions {
  // Short-lived: a leaked leaf key is useless within a week, and nothing needs revoking.
  uint32_t validity_seconds = 7 * 86400;
  uint32_t backdate_seconds = 3600;       // clients with clocks a little behind still accept it
  uint32_t renew_before_seconds = 86400;  // a leaf this close to expiry is replaced, not served
  size_t max_entries = 10000;             // in memory
  std::string cache_dir;                  // empty: memory only
  size_t max_disk_entries = 20000;        // files in cache_dir, oldest deleted first
  uint64_t max_disk_bytes = 64ull << 20;  // their total size
};

// LDH host name, 1–253 bytes, labels 1–63, no trailing dot: what SNI may carry (RFC 6066 §3).
bool valid_host_name(std::string_view name);

class LeafMinter {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds; tests move time forward
  LeafMinter(std::shared_ptr<const CertificateAuthority> ca, MinterOptions options, Clock clock = {});

  // The leaf for `name` (ASCII case folded). Throws CertError for an invalid name or when
  // minting fails; a disk-cache file that cannot be read or written is skipped, not fatal.
  // `may_mint`, when given, is asked before a leaf is minted (none in memory or on disk): false
  // returns null and mints nothing.
  std::shared_ptr<const Leaf> get(std::string_view name, const std::function<bool()>& may_mint = {});

  struct Stats {
    uint64_t minted = 0;
    uint64_t memory_hits = 0;
    uint64_t disk_hits = 0;
    uint64_t disk_errors = 0;
    uint64_t disk_deleted = 0;  // files deleted: expired, over a bound, or leftovers at start
    uint64_t disk_files = 0;    // files in the disk cache now
    uint64_t disk_bytes = 0;    // their size
  };
  Stats stats() const;
  const CertificateAuthority& ca() const { return *ca_; }

 private:
  bool fresh(const Leaf& leaf, int64_t now) const;
  std::shared_ptr<const Leaf> mint(const std::string& name, int64_t now) const;
  std::shared_ptr<const Leaf> load_from_disk(const std::string& name, int64_t now);
  void store_on_disk(const Leaf& leaf, int64_t now);
  std::string disk_path(const std::string& name) const;
  void sweep_disk(int64_t now);                     // at construction
  void forget_file(const std::string& name, bool delete_it);  // under mutex_
  void enforce_disk_bounds(int64_t now);           // under mutex_: expired, then oldest first

  struct DiskFile {
    int64_t written = 0;  // Unix seconds
    uint64_t order = 0;   // increases with the time of writing (ties of one second included)
    uint64_t bytes = 0;
  };

  std::shared_ptr<const CertificateAuthority> ca_;
  MinterOptions options_;
  Clock clock_;

  mutable std::mutex mutex_;  // guards the LRU and stats; minting runs outside it
  std::list<std::shared_ptr<const Leaf>> lru_;  // front = most recently used
  // Keyed hash: the names are SNI names clients send (random subdomains of a blocked subtree).
  std::unordered_map<std::string, std::list<std::shared_ptr<const Leaf>>::iterator, base::KeyedStringHash> by_name_;
  Stats stats_;
  // The disk cache's index: by name, and by (order written, name) for oldest first. Trees: names
  // are client-chosen (SNI), and a tree has no hash to flood.
  std::map<std::string, DiskFile> disk_;
  std::set<std::pair<uint64_t, std::string>> disk_by_age_;
  uint64_t next_order_ = 0;
};

}  // namespace sekisho::certs
