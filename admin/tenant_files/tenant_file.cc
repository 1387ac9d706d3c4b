#include "admin/tenant_files/tenant_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/file.h"
#include "base/text.h"
#include "config/schema.h"
#include "policy/configuration.h"

namespace sekisho::config {
namespace {

namespace fs = std::filesystem;

using base::errno_text;

TenantFileResult failure(TenantFileStatus status, std::string path, std::string message) {
  TenantFileResult r;
  r.status = status;
  r.path = std::move(path);
  r.message = std::move(message);
  return r;
}

// The schema's rule for tenant ids, and a length a file name can have; checked here first
// because the id becomes a file name, and "../x" must never reach the file system.
bool valid_tenant_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && check_tenant_id(id).empty();
}

// The file's bytes; nullopt when it does not exist. Other failures go to `error`.
std::optional<std::string> read_bytes(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno != ENOENT) error = errno_text("cannot read " + path, errno);
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  return buffer.str();
}

std::string where(const SourceMark& m) { return m.line > 0 ? m.file + ":" + std::to_string(m.line) : m.file; }

// The headline for `message`; the errors themselves travel in TenantFileResult::errors.
std::string summarize(const std::vector<ConfigError>& errors) {
  return std::to_string(errors.size()) + (errors.size() == 1 ? " error" : " errors") + " in the resulting configuration";
}

// Serialises writers on this host (CLI and admin API) for the read-check-rename sequence.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = errno_text("cannot open " + dir, errno);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      error_ = errno_text("cannot lock " + dir, errno);
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// A new file takes the main configuration's owner and mode (sekishod must be able to read it,
// and device tokens are credentials: no wider than the main file); a replaced file keeps its
// own. The caller holds the directory lock; the write itself is base's (temporary file in
// tenants.d, hidden and not *.yaml so the loader never reads it, fsync, rename, directory fsync).
std::string write_atomically(const std::string& path, const std::string& main_config, const std::string& bytes) {
  struct stat like {};
  const bool replacing = ::stat(path.c_str(), &like) == 0;
  if (!replacing && ::stat(main_config.c_str(), &like) != 0) {
    like.st_mode = 0640;
    like.st_uid = ::getuid();
    like.st_gid = ::getgid();
  }
  base::AtomicWrite how;
  how.mode = like.st_mode & 0666;
  if (::geteuid() == 0) {
    how.uid = like.st_uid;
    how.gid = like.st_gid;
  }
  return base::write_file_atomically(path, bytes, how);
}


// The whole configuration with tenant `id`'s new document at `path`: refused when the tenant is
// defined elsewhere or the result is invalid.
std::optional<TenantFileResult> check_candidate(policy::Configuration& candidate, const std::string& id,
                                                const std::string& path) {
  for (const auto& t : candidate.settings.tenants)
    if (t.id == id && t.mark.file != path)
      return failure(TenantFileStatus::not_managed, t.mark.file,
                     "tenant '" + id + "' is defined in " + where(t.mark) + ", not in " + path +
                         "; move its entry (and its policies) into " + path + " to manage it with sekisho");
  if (!candidate.ok()) {
    TenantFileResult r = failure(TenantFileStatus::invalid, path, summarize(candidate.errors));
    r.errors = std::move(candidate.errors);
    return r;
  }
  return std::nullopt;
}

// What a successful write reports: the tenant and its policies as the loader read them back.
TenantFileResult written(const policy::Configuration& candidate, const std::string& id, const std::string& path,
                         std::string etag) {
  TenantFileResult r;
  r.path = path;
  r.etag = std::move(etag);
  for (const auto& t : candidate.settings.tenants)
    if (t.id == id) r.content.tenant = t;
  for (const auto& [name, p] : candidate.settings.policies)
    if (p.mark.file == path) r.content.policies.push_back(p);
  return r;
}

// write_tenant_file into a document store: the same checks over the store's documents; the
// store checks `expected` itself, in the same transaction as the change.
TenantFileResult write_document(const std::string& main_config, const TenantFileContent& content,
                                const ExpectedEtag& expected, TenantDocumentStore& documents) {
  const std::string& id = content.tenant.id;
  const std::string path = tenant_file_path(main_config, id);
  auto docs = documents.documents();
  std::string why;
  if (auto it = docs.files.find(path);
      it != docs.files.end() && it->second && !tenant_file_holds_only(*it->second, path, id, why))
    return failure(TenantFileStatus::not_managed, path, why);
  const std::string bytes = render_tenant_file(content);
  docs.files[path] = bytes;
  policy::Configuration candidate = policy::load_configuration(main_config, docs.files);
  if (auto refused = check_candidate(candidate, id, path)) return *refused;
  // Unconditional writes (a device added without If-Match) are still made on top of the version
  // this node read: another node's change meanwhile gives a conflict instead of being lost.
  const ExpectedEtag base = expected ? expected : ExpectedEtag(docs.etags[path]);
  TenantFileResult stored = documents.store(id, &bytes, base);
  if (!stored.ok()) return stored;
  return written(candidate, id, path, stored.etag);
}

// remove_tenant_file from a document store.
TenantFileResult remove_document(const std::string& main_config, const std::string& tenant_id,
                                 const ExpectedEtag& expected, TenantDocumentStore& documents) {
  const std::string path = tenant_file_path(main_config, tenant_id);
  auto docs = documents.documents();
  auto it = docs.files.find(path);
  if (it == docs.files.end() || !it->second) return failure(TenantFileStatus::not_found, path, "no tenant '" + tenant_id + "'");
  std::string why;
  if (!tenant_file_holds_only(*it->second, path, tenant_id, why)) return failure(TenantFileStatus::not_managed, path, why);
  it->second = std::nullopt;
  policy::Configuration candidate = policy::load_configuration(main_config, docs.files);
  if (!candidate.ok()) {
    TenantFileResult r = failure(TenantFileStatus::invalid, path, "removing tenant '" + tenant_id + "' leaves " + summarize(candidate.errors));
    r.errors = std::move(candidate.errors);
    return r;
  }
  TenantFileResult r = documents.store(tenant_id, nullptr, expected);
  r.path = path;
  return r;
}

}  // namespace

std::string tenant_file_path(const std::string& main_config, const std::string& tenant_id) {
  return (tenants_dir(main_config) / (tenant_id + ".yaml")).string();
}

std::string tenant_file_etag(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

TenantFileResult read_tenant_file(const std::string& main_config, const std::string& tenant_id,
                                  const TenantDocumentStore* documents) {
  const std::string path = tenant_file_path(main_config, tenant_id);
  if (!valid_tenant_id(tenant_id))
    return failure(TenantFileStatus::not_found, path, "'" + tenant_id + "' is not a tenant id (a-z, 0-9, '-', '_')");
  std::optional<std::string> bytes;
  TenantFileOverrides overrides;
  std::string stored_etag;
  if (documents) {
    auto docs = documents->documents();
    overrides = std::move(docs.files);
    if (auto it = overrides.find(path); it != overrides.end()) bytes = it->second;
    stored_etag = docs.etags[path];
  } else {
    std::string error;
    bytes = read_bytes(path, error);
    if (!error.empty()) return failure(TenantFileStatus::io_error, path, error);
    // Parse exactly the bytes the ETag is computed from, even if the file is replaced meanwhile.
    if (bytes) overrides[path] = *bytes;
  }
  LoadResult loaded = load_config_file(main_config, overrides);
  if (loaded.settings.source.empty() && !loaded.errors.empty())  // the main file itself could not be opened
    return failure(TenantFileStatus::io_error, main_config, loaded.errors[0].to_string());

  const auto& tenants = loaded.settings.tenants;
  auto it = std::find_if(tenants.begin(), tenants.end(), [&](const TenantSettings& t) { return t.id == tenant_id; });
  if (it == tenants.end()) {
    TenantFileResult r = failure(TenantFileStatus::not_found, path, "no tenant '" + tenant_id + "'");
    for (const auto& e : loaded.errors)
      if (e.file == path) r.errors.push_back(e);
    if (!r.errors.empty()) r.message += " (" + path + " has errors: " + r.errors.front().to_string() + ")";
    return r;
  }
  TenantFileResult r;
  r.content.tenant = *it;
  r.path = it->mark.file;
  for (const auto& e : loaded.errors)
    if (e.file == r.path) r.errors.push_back(e);
  if (!r.errors.empty()) {
    r.status = TenantFileStatus::invalid;
    r.message = r.path + " has errors (" + std::to_string(r.errors.size()) + ")";
  }
  if (r.path != path) return r;  // defined elsewhere: readable, not writable here
  for (const auto& [name, p] : loaded.settings.policies)
    if (p.mark.file == path) r.content.policies.push_back(p);
  std::string why;
  if (bytes && tenant_file_holds_only(*bytes, path, tenant_id, why)) r.etag = documents ? stored_etag : tenant_file_etag(*bytes);
  return r;
}

TenantFileResult write_tenant_file(const std::string& main_config, const TenantFileContent& content,
                                   const ExpectedEtag& expected, TenantDocumentStore* documents) {
  const std::string& id = content.tenant.id;
  const std::string path = tenant_file_path(main_config, id);
  if (!valid_tenant_id(id))
    return failure(TenantFileStatus::invalid, path, "'" + id + "' is not a tenant id: use a-z, 0-9, '-' and '_' (at most 64)");
  if (documents) return write_document(main_config, content, expected, *documents);
  const std::string dir = tenants_dir(main_config).string();
  if (std::string error = base::make_directories(dir); !error.empty()) return failure(TenantFileStatus::io_error, dir, error);
  DirLock lock(dir);
  if (!lock.error().empty()) return failure(TenantFileStatus::io_error, dir, lock.error());
  // A writer killed mid-write left its temporary file, device tokens and all: gone now.
  base::remove_abandoned_temporaries(dir);

  std::string error;
  const auto current = read_bytes(path, error);
  if (!error.empty()) return failure(TenantFileStatus::io_error, path, error);
  if (expected) {
    if (expected->empty() && current)
      return failure(TenantFileStatus::conflict, path, path + " already exists (read it and change it instead)");
    if (!expected->empty() && !current)
      return failure(TenantFileStatus::conflict, path, path + " no longer exists");
    if (!expected->empty() && tenant_file_etag(*current) != *expected)
      return failure(TenantFileStatus::conflict, path, path + " changed since it was read (ETag mismatch); read it again");
  }
  std::string why;
  if (current && !tenant_file_holds_only(*current, path, id, why)) return failure(TenantFileStatus::not_managed, path, why);

  const std::string bytes = render_tenant_file(content);
  policy::Configuration candidate = policy::load_configuration(main_config, {{path, bytes}});
  if (auto refused = check_candidate(candidate, id, path)) return *refused;
  if (std::string werr = write_atomically(path, main_config, bytes); !werr.empty())
    return failure(TenantFileStatus::io_error, path, werr);
  return written(candidate, id, path, tenant_file_etag(bytes));
}

TenantFileResult remove_tenant_file(const std::string& main_config, const std::string& tenant_id,
                                    const ExpectedEtag& expected, TenantDocumentStore* documents) {
  const std::string path = tenant_file_path(main_config, tenant_id);
  if (!valid_tenant_id(tenant_id))
    return failure(TenantFileStatus::not_found, path, "'" + tenant_id + "' is not a tenant id (a-z, 0-9, '-', '_')");
  if (documents) return remove_document(main_config, tenant_id, expected, *documents);
  const std::string dir = tenants_dir(main_config).string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return failure(TenantFileStatus::not_found, path, "no tenant file " + path);
  DirLock lock(dir);
  if (!lock.error().empty()) return failure(TenantFileStatus::io_error, dir, lock.error());
  std::string error;
  const auto current = read_bytes(path, error);
  if (!error.empty()) return failure(TenantFileStatus::io_error, path, error);
  if (!current) {
    if (expected && !expected->empty()) return failure(TenantFileStatus::conflict, path, path + " no longer exists");
    return failure(TenantFileStatus::not_found, path, "no tenant file " + path);
  }
  if (expected && tenant_file_etag(*current) != *expected)
    return failure(TenantFileStatus::conflict, path, path + " changed since it was read (ETag mismatch); read it again");
  std::string why;
  if (!tenant_file_holds_only(*current, path, tenant_id, why)) return failure(TenantFileStatus::not_managed, path, why);
  policy::Configuration candidate = policy::load_configuration(main_config, {{path, std::nullopt}});
  if (!candidate.ok()) {
    TenantFileResult r = failure(TenantFileStatus::invalid, path, "removing " + path + " leaves " + summarize(candidate.errors));
    r.errors = std::move(candidate.errors);
    return r;
  }
  if (::unlink(path.c_str()) != 0) return failure(TenantFileStatus::io_error, path, errno_text("cannot remove " + path, errno));
  if (::fsync(lock.fd()) != 0) return failure(TenantFileStatus::io_error, path, errno_text("removed " + path + " but cannot sync its directory", errno));
  TenantFileResult r;
  r.path = path;
  return r;
}

}  // namespace sekisho::config
