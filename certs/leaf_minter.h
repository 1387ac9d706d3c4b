// Leaf certificates for the names sekisho-intercept terminates TLS for, signed by one tenant's
// CA. A leaf is minted on first use, kept in a bounded in-memory LRU and on disk (one 0600 file
// per name holding key and certificate), and reused until it comes near expiry. The caller
// decides *whether* a name may get a certificate (blocked or deep-check for the client's tenant);
// this class only refuses names that are not host names.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
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
  size_t max_entries = 10000;             // in memory; the disk cache is not bounded by count
  std::string cache_dir;                  // empty: memory only
};

// LDH host name, 1–253 bytes, labels 1–63, no trailing dot: what SNI may carry (RFC 6066 §3).
bool valid_host_name(std::string_view name);

class LeafMinter {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds; tests move time forward
  LeafMinter(std::shared_ptr<const CertificateAuthority> ca, MinterOptions options, Clock clock = {});

  // The leaf for `name` (ASCII case folded). Throws CertError for an invalid name or when
  // minting fails; a disk-cache file that cannot be read or written is skipped, not fatal.
  std::shared_ptr<const Leaf> get(std::string_view name);

  struct Stats {
    uint64_t minted = 0;
    uint64_t memory_hits = 0;
    uint64_t disk_hits = 0;
    uint64_t disk_errors = 0;
  };
  Stats stats() const;
  const CertificateAuthority& ca() const { return *ca_; }

 private:
  bool fresh(const Leaf& leaf, int64_t now) const;
  std::shared_ptr<const Leaf> mint(const std::string& name, int64_t now) const;
  std::shared_ptr<const Leaf> load_from_disk(const std::string& name, int64_t now);
  void store_on_disk(const Leaf& leaf);
  std::string disk_path(const std::string& name) const;

  std::shared_ptr<const CertificateAuthority> ca_;
  MinterOptions options_;
  Clock clock_;

  mutable std::mutex mutex_;  // guards the LRU and stats; minting runs outside it
  std::list<std::shared_ptr<const Leaf>> lru_;  // front = most recently used
  // Keyed hash: the names are SNI names clients send (random subdomains of a blocked subtree).
  std::unordered_map<std::string, std::list<std::shared_ptr<const Leaf>>::iterator, base::KeyedStringHash> by_name_;
  Stats stats_;
};

}  // namespace sekisho::certs
