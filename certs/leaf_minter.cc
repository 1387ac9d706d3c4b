#include "certs/leaf_minter.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <vector>

#include "base/file.h"
#include "base/text.h"
#include "certs/x509_build.h"

namespace sekisho::certs {
namespace {

int64_t system_seconds() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t asn1_seconds(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c == '-' && label > 0) || c == '_';
      if (!ok || ++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

LeafMinter::LeafMinter(std::shared_ptr<const CertificateAuthority> ca, MinterOptions options, Clock clock)
    : ca_(std::move(ca)), options_(std::move(options)), clock_(clock ? std::move(clock) : Clock(system_seconds)) {
  if (options_.max_entries == 0) options_.max_entries = 1;
  if (!options_.cache_dir.empty()) {
    // 0700 at creation: minted keys are written here, never readable by others even for a moment.
    if (const std::string error = base::make_directories(options_.cache_dir, 0700); !error.empty())
      throw CertError("the certificate cache: " + error);
    ::chmod(options_.cache_dir.c_str(), 0700);  // an existing directory is left as make_directories found it
    sweep_disk(system_seconds());
  }
}

bool LeafMinter::fresh(const Leaf& leaf, int64_t now) const {
  return leaf.not_after - static_cast<int64_t>(options_.renew_before_seconds) > now;
}

std::shared_ptr<const Leaf> LeafMinter::get(std::string_view requested, const std::function<bool()>& may_mint) {
  if (!valid_host_name(requested)) throw CertError("'" + std::string(requested) + "' is not a host name");
  const std::string name = base::ascii_lower(requested);
  const int64_t now = clock_();
  {
    std::lock_guard lock(mutex_);
    auto it = by_name_.find(name);
    if (it != by_name_.end()) {
      if (fresh(**it->second, now)) {
        lru_.splice(lru_.begin(), lru_, it->second);
        ++stats_.memory_hits;
        return *it->second;
      }
      lru_.erase(it->second);
      by_name_.erase(it);
    }
  }
  if (!options_.cache_dir.empty()) {
    std::lock_guard lock(mutex_);
    enforce_disk_bounds(system_seconds());  // expiry, even while nothing new is written
  }
  std::shared_ptr<const Leaf> leaf = load_from_disk(name, now);
  const bool from_disk = leaf != nullptr;
  if (!leaf) {
    if (may_mint && !may_mint()) return nullptr;
    leaf = mint(name, now);
    store_on_disk(*leaf, system_seconds());
  }
  std::lock_guard lock(mutex_);
  ++(from_disk ? stats_.disk_hits : stats_.minted);
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {  // another thread got there first; serve one certificate per name
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second;
  }
  lru_.push_front(leaf);
  by_name_.emplace(name, lru_.begin());
  while (lru_.size() > options_.max_entries) {
    by_name_.erase(lru_.back()->name);
    lru_.pop_back();
  }
  return leaf;
}

std::shared_ptr<const Leaf> LeafMinter::mint(const std::string& name, int64_t now) const {
  auto leaf = std::make_shared<Leaf>();
  leaf->name = name;
  leaf->key = make_ec_key();
  leaf->cert.reset(X509_new());
  X509* cert = leaf->cert.get();
  if (!cert) fail("allocating a certificate for " + name);
  X509_set_version(cert, 2);
  set_random_serial(cert);
  time_t base = static_cast<time_t>(now);
  if (!X509_time_adj_ex(X509_getm_notBefore(cert), 0, -static_cast<long>(options_.backdate_seconds), &base) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert), 0, static_cast<long>(options_.validity_seconds), &base))
    fail("setting the validity of the certificate for " + name);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                             -1, 0);
  if (X509_set_issuer_name(cert, X509_get_subject_name(ca_->cert())) != 1 ||
      X509_set_pubkey(cert, leaf->key.get()) != 1)
    fail("filling the certificate for " + name);
  add_extension(cert, ca_->cert(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, ca_->cert(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert, ca_->cert(), NID_ext_key_usage, "serverAuth");
  add_extension(cert, ca_->cert(), NID_subject_alt_name, ("DNS:" + name).c_str());
  add_extension(cert, ca_->cert(), NID_subject_key_identifier, "hash");
  add_extension(cert, ca_->cert(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, ca_->key(), EVP_sha256()) <= 0) fail("signing the certificate for " + name);
  leaf->not_after = asn1_seconds(X509_get0_notAfter(cert));
  return leaf;
}

std::string LeafMinter::disk_path(const std::string& name) const {
  return (std::filesystem::path(options_.cache_dir) / (name + ".pem")).string();
}

std::shared_ptr<const Leaf> LeafMinter::load_from_disk(const std::string& name, int64_t now) {
  if (options_.cache_dir.empty()) return nullptr;
  const std::string path = disk_path(name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nullptr;
  try {
    const std::string pem = read_file(path);
    auto leaf = std::make_shared<Leaf>();
    leaf->name = name;
    leaf->cert = cert_from_pem(pem, path);
    leaf->key = key_from_pem(pem, path);
    leaf->not_after = asn1_seconds(X509_get0_notAfter(leaf->cert.get()));
    // Only reuse what this CA signed for exactly this name, with its own key: the CA may have
    // been replaced since the file was written.
    if (X509_verify(leaf->cert.get(), X509_get0_pubkey(ca_->cert())) != 1 ||
        X509_check_host(leaf->cert.get(), name.data(), name.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1 ||
        X509_check_private_key(leaf->cert.get(), leaf->key.get()) != 1 || !fresh(*leaf, now)) {
      ERR_clear_error();
      std::lock_guard lock(mutex_);
      forget_file(name, true);  // replaced by the leaf minted next
      return nullptr;
    }
    return leaf;
  } catch (const CertError&) {
    std::lock_guard lock(mutex_);
    ++stats_.disk_errors;
    forget_file(name, true);
    return nullptr;
  }
}

void LeafMinter::store_on_disk(const Leaf& leaf, int64_t now) {
  if (options_.cache_dir.empty()) return;
  const std::string pem = key_to_pem(leaf.key.get()) + to_pem(leaf.cert.get());
  try {
    replace_file(disk_path(leaf.name), pem, 0600);
  } catch (const CertError&) {
    std::lock_guard lock(mutex_);
    ++stats_.disk_errors;  // the in-memory leaf still serves; the next process mints again
    return;
  }
  std::lock_guard lock(mutex_);
  forget_file(leaf.name, false);  // replaced in place
  disk_[leaf.name] = DiskFile{now, ++next_order_, pem.size()};
  disk_by_age_.emplace(next_order_, leaf.name);
  stats_.disk_files = disk_.size();
  stats_.disk_bytes += pem.size();
  enforce_disk_bounds(now);
}

void LeafMinter::forget_file(const std::string& name, bool delete_it) {
  auto it = disk_.find(name);
  if (it != disk_.end()) {
    disk_by_age_.erase({it->second.order, name});
    stats_.disk_bytes -= it->second.bytes;
    disk_.erase(it);
    stats_.disk_files = disk_.size();
  }
  if (!delete_it) return;
  std::error_code ec;
  if (std::filesystem::remove(disk_path(name), ec)) ++stats_.disk_deleted;
}

void LeafMinter::enforce_disk_bounds(int64_t now) {
  // A file is of no use once its leaf is within renew_before of expiry (fresh() refuses it).
  const int64_t usable = static_cast<int64_t>(options_.validity_seconds) -
                         std::min<int64_t>(options_.renew_before_seconds, options_.validity_seconds);
  const int64_t expired_before = now - usable;
  while (!disk_by_age_.empty()) {
    const std::string& name = disk_by_age_.begin()->second;
    const bool over = disk_.size() > options_.max_disk_entries || stats_.disk_bytes > options_.max_disk_bytes;
    if (!over && disk_.at(name).written > expired_before) break;
    const std::string oldest = name;  // forget_file erases the set's element
    forget_file(oldest, true);
  }
}

void LeafMinter::sweep_disk(int64_t now) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::lock_guard lock(mutex_);
  struct Found {
    int64_t mtime_ns;
    std::string name;
    uint64_t bytes;
  };
  std::vector<Found> found;
  for (fs::directory_iterator it(options_.cache_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    std::error_code fe;
    if (file.starts_with(".") && file.find(".pem.tmp-") != std::string::npos) {  // a write a crash cut short
      if (fs::remove(it->path(), fe)) ++stats_.disk_deleted;
      continue;
    }
    if (!file.ends_with(".pem") || !valid_host_name(std::string_view(file).substr(0, file.size() - 4))) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    found.push_back({static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                     file.substr(0, file.size() - 4), static_cast<uint64_t>(st.st_size)});
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime_ns < b.mtime_ns; });
  for (const Found& f : found) {
    disk_[f.name] = DiskFile{f.mtime_ns / 1000000000, ++next_order_, f.bytes};
    disk_by_age_.emplace(next_order_, f.name);
    stats_.disk_bytes += f.bytes;
  }
  stats_.disk_files = disk_.size();
  enforce_disk_bounds(now);
}

LeafMinter::Stats LeafMinter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace sekisho::certs
