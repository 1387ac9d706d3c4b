#include "admin/tenant_files/tenant_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/file.h"
#include "base/text.h"
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

// Same character rule as the loader's tenant ids; checked here first because the id becomes a
// file name, and "../x" must never reach the file system.
bool valid_tenant_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
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

// Whether the file as it is now holds exactly `tenant_id`'s entry (and maybe policies), so
// rewriting it loses nothing. Otherwise `why` says what else is in it.
bool holds_only(const std::string& bytes, const std::string& path, const std::string& tenant_id, std::string& why) {
  YAML::Node root;
  try {
    root = YAML::Load(bytes);
  } catch (const YAML::Exception& e) {
    why = path + " does not parse (" + e.msg + "); fix it by hand first";
    return false;
  }
  if (root.IsNull()) return true;
  const YAML::Node tenants = root.IsMap() ? root["tenants"] : YAML::Node();
  if (!root.IsMap() || (tenants.IsDefined() && !tenants.IsSequence())) {
    why = path + " is not a tenants.d file (a mapping with 'tenants' and 'policies'); fix it by hand first";
    return false;
  }
  if (!tenants.IsDefined()) return true;
  for (const auto& t : tenants) {
    const YAML::Node id = t.IsMap() ? t["id"] : YAML::Node();
    if (!id.IsDefined() || !id.IsScalar() || id.Scalar() != tenant_id) {
      why = path + " also defines tenant '" + (id.IsDefined() && id.IsScalar() ? id.Scalar() : std::string("?")) +
            "'; give each tenant its own file before changing it here";
      return false;
    }
  }
  return true;
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

void emit_string_list(YAML::Emitter& out, const char* key, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& s : items) out << YAML::DoubleQuoted << s;
  out << YAML::EndSeq;
}

void emit_patterns(YAML::Emitter& out, const char* key, const std::vector<ListEntrySettings>& items) {
  std::vector<std::string> patterns;
  for (const auto& e : items) patterns.push_back(e.pattern);
  emit_string_list(out, key, patterns);
}

std::string time_of_day(uint16_t minutes) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u:%02u", minutes / 60u, minutes % 60u);
  return buf;
}

void emit_policy(YAML::Emitter& out, const PolicySettings& p) {
  static constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  static constexpr const char* kActions[] = {"blockpage", "nxdomain", "nodata", "refused"};
  static constexpr const char* kLogModes[] = {"full", "anonymized", "none"};
  out << YAML::Key << YAML::DoubleQuoted << p.name << YAML::Value << YAML::BeginMap;
  emit_string_list(out, "block", p.block);
  emit_patterns(out, "allow", p.allow);
  emit_patterns(out, "deny", p.deny);
  if (!p.schedule.empty()) {
    out << YAML::Key << "schedule" << YAML::Value << YAML::BeginSeq;
    for (const auto& s : p.schedule) {
      out << YAML::BeginMap;
      emit_string_list(out, "block", s.block);
      if (s.days != 0x7f) {
        std::vector<std::string> days;
        for (int d = 0; d < 7; ++d)
          if (s.days & (1 << d)) days.push_back(kDays[d]);
        out << YAML::Key << "days" << YAML::Value << YAML::Flow << days;
      }
      out << YAML::Key << "from" << YAML::Value << YAML::DoubleQuoted << time_of_day(s.from_minute);
      out << YAML::Key << "to" << YAML::Value << YAML::DoubleQuoted << time_of_day(s.to_minute);
      out << YAML::Key << "timezone" << YAML::Value << YAML::DoubleQuoted << s.timezone;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (p.safe_search) out << YAML::Key << "safe_search" << YAML::Value << true;
  out << YAML::Key << "action" << YAML::Value << kActions[static_cast<int>(p.action)];
  if (p.log != LogMode::full) out << YAML::Key << "log" << YAML::Value << kLogModes[static_cast<int>(p.log)];
  if (p.deep_inspection) out << YAML::Key << "deep_inspection" << YAML::Value << true;
  out << YAML::EndMap;
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

std::string render_tenant_file(const TenantFileContent& content) {
  const TenantSettings& t = content.tenant;
  YAML::Emitter out;
  out.SetOutputCharset(YAML::EmitNonAscii);  // Japanese names stay readable
  out << YAML::Comment("Tenant '" + t.id + "'. Written by sekisho (`sekisho device`, admin API): values edited by hand are kept, comments are not.");
  out << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "tenants" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "id" << YAML::Value << YAML::DoubleQuoted << t.id;
  out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << (t.name.empty() ? t.id : t.name);
  if (!t.contact.empty()) out << YAML::Key << "contact" << YAML::Value << YAML::DoubleQuoted << t.contact;
  std::vector<std::string> networks;
  for (const auto& n : t.networks) networks.push_back(n.text);
  emit_string_list(out, "networks", networks);
  out << YAML::Key << "policy" << YAML::Value << YAML::DoubleQuoted << t.policy;
  if (t.max_devices != 0) out << YAML::Key << "max_devices" << YAML::Value << t.max_devices;
  if (!t.devices.empty()) {
    out << YAML::Key << "devices" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : t.devices)
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << d.name << YAML::Key << "token"
          << YAML::Value << YAML::DoubleQuoted << d.token << YAML::EndMap;
    out << YAML::EndSeq;
  }
  out << YAML::EndMap << YAML::EndSeq;
  if (!content.policies.empty()) {
    out << YAML::Key << "policies" << YAML::Value << YAML::BeginMap;
    // By name, as the loader keeps them, so rendering what was read reproduces the file.
    std::vector<const PolicySettings*> sorted;
    for (const auto& p : content.policies) sorted.push_back(&p);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const auto* p : sorted) emit_policy(out, *p);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

TenantFileResult read_tenant_file(const std::string& main_config, const std::string& tenant_id) {
  const std::string path = tenant_file_path(main_config, tenant_id);
  if (!valid_tenant_id(tenant_id))
    return failure(TenantFileStatus::not_found, path, "'" + tenant_id + "' is not a tenant id (a-z, 0-9, '-', '_')");
  std::string error;
  const auto bytes = read_bytes(path, error);
  if (!error.empty()) return failure(TenantFileStatus::io_error, path, error);
  // Parse exactly the bytes the ETag is computed from, even if the file is replaced meanwhile.
  TenantFileOverrides overrides;
  if (bytes) overrides[path] = *bytes;
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
  if (bytes && holds_only(*bytes, path, tenant_id, why)) r.etag = tenant_file_etag(*bytes);
  return r;
}

TenantFileResult write_tenant_file(const std::string& main_config, const TenantFileContent& content,
                                   const ExpectedEtag& expected) {
  const std::string& id = content.tenant.id;
  const std::string path = tenant_file_path(main_config, id);
  if (!valid_tenant_id(id))
    return failure(TenantFileStatus::invalid, path, "'" + id + "' is not a tenant id: use a-z, 0-9, '-' and '_' (at most 64)");
  const std::string dir = tenants_dir(main_config).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return failure(TenantFileStatus::io_error, dir, "cannot create " + dir + ": " + ec.message());
  DirLock lock(dir);
  if (!lock.error().empty()) return failure(TenantFileStatus::io_error, dir, lock.error());

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
  if (current && !holds_only(*current, path, id, why)) return failure(TenantFileStatus::not_managed, path, why);

  const std::string bytes = render_tenant_file(content);
  policy::Configuration candidate = policy::load_configuration(main_config, {{path, bytes}});
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
  if (std::string werr = write_atomically(path, main_config, bytes); !werr.empty())
    return failure(TenantFileStatus::io_error, path, werr);

  TenantFileResult r;
  r.path = path;
  r.etag = tenant_file_etag(bytes);
  for (const auto& t : candidate.settings.tenants)
    if (t.id == id) r.content.tenant = t;
  for (const auto& [name, p] : candidate.settings.policies)
    if (p.mark.file == path) r.content.policies.push_back(p);
  return r;
}

TenantFileResult remove_tenant_file(const std::string& main_config, const std::string& tenant_id,
                                    const ExpectedEtag& expected) {
  const std::string path = tenant_file_path(main_config, tenant_id);
  if (!valid_tenant_id(tenant_id))
    return failure(TenantFileStatus::not_found, path, "'" + tenant_id + "' is not a tenant id (a-z, 0-9, '-', '_')");
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
  if (!holds_only(*current, path, tenant_id, why)) return failure(TenantFileStatus::not_managed, path, why);
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
