// The file is changed only through write_tenant_file with the ETag of the read it started from,
// so a concurrent admin API edit between our read and our write makes us refuse, not overwrite.
#include "admin/cli/device.h"

#include <cstdio>

#include "admin/cli/audit.h"
#include "admin/tenant_files/devices.h"
#include "config/yaml/load.h"
#include "admin/tenant_files/tenant_file.h"
#include "admin/profiles/device_endpoints.h"
#include "base/usage_error.h"

namespace sekisho::cli {
namespace {

using command_line::required;
using command_line::UsageError;

void print_failure(const config::TenantFileResult& r) {
  std::fprintf(stderr, "sekisho device: %s%s\n", r.message.c_str(), r.errors.empty() ? "" : ":");
  for (const auto& e : r.errors) std::fprintf(stderr, "  %s\n", e.to_string().c_str());
}

// Read, change with `edit`, write back conditioned on the read's ETag.
template <typename Edit>
int change_tenant(const std::string& config_path, const std::string& tenant, Edit edit) {
  config::TenantFileResult current = config::read_tenant_file(config_path, tenant);
  if (!current.ok()) {
    print_failure(current);
    return 1;
  }
  if (std::string why = edit(current.content); !why.empty()) {
    std::fprintf(stderr, "sekisho device: %s\n", why.c_str());
    return 1;
  }
  config::TenantFileResult written = config::write_tenant_file(config_path, current.content, current.etag);
  if (!written.ok()) {
    print_failure(written);
    return 1;
  }
  return 0;
}

int add(const DeviceArgs& args) {
  const std::string& config_path = required(args.config, "--config");
  const std::string& tenant = required(args.tenant, "--tenant");
  const std::string& name = required(args.device, "--device");
  std::string token = args.token.value_or(std::string());
  if (args.token && token.empty()) throw UsageError("--token must not be empty (omit it to generate one)");
  const int rc = change_tenant(config_path, tenant,
                               [&](config::TenantFileContent& c) { return config::add_device(c, name, token); });
  if (rc != 0) return rc;
  std::printf("added device '%s' to tenant '%s' (%s)\ntoken: %s\n", name.c_str(), tenant.c_str(),
              config::tenant_file_path(config_path, tenant).c_str(), token.c_str());
  const auto loaded = config::load_config_file(config_path);
  if (const std::string url = profiles::doh_url(loaded.settings.server, token); !url.empty()) {
    std::printf("DoH:   %s\n", url.c_str());
    std::printf("DoT:   %s\n", profiles::dot_hostname(loaded.settings.server, token).c_str());
  }
  std::printf("sekishod applies it on reload (SIGHUP, systemctl reload sekishod)\n");
  return 0;
}

int revoke(const DeviceArgs& args) {
  const std::string& config_path = required(args.config, "--config");
  const std::string& tenant = required(args.tenant, "--tenant");
  const std::string& name = required(args.device, "--device");
  const int rc = change_tenant(config_path, tenant,
                               [&](config::TenantFileContent& c) { return config::revoke_device(c, name); });
  if (rc != 0) return rc;
  std::printf("revoked device '%s' of tenant '%s'; its token stops working when sekishod reloads\n", name.c_str(),
              tenant.c_str());
  return 0;
}

// One line per device: tenant, device, token (tab-separated, for scripts).
int list(const DeviceArgs& args) {
  const std::string& config_path = required(args.config, "--config");
  const std::string& tenant = args.tenant;
  const auto loaded = config::load_config_file(config_path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  bool found = tenant.empty();
  for (const auto& t : loaded.settings.tenants) {
    if (!tenant.empty() && t.id != tenant) continue;
    found = true;
    for (const auto& d : t.devices) std::printf("%s\t%s\t%s\n", t.id.c_str(), d.name.c_str(), d.token.c_str());
  }
  if (!found) {
    std::fprintf(stderr, "sekisho device: no tenant '%s' in %s\n", tenant.c_str(), config_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int run_device(const DeviceArgs& args) {
  try {
    // The same "what" and device fields as the admin API's lines (admin/api/tenant_routes.cc);
    // never the token, which is a credential.
    if (args.command == "add") {
      const int rc = add(args);
      audit_command(args.config, "add device", args.tenant, nullptr, {{"name", args.device}}, rc);
      return rc;
    }
    if (args.command == "revoke") {
      const int rc = revoke(args);
      audit_command(args.config, "revoke device", args.tenant, {{"name", args.device}}, nullptr, rc);
      return rc;
    }
    if (args.command == "list") return list(args);
    throw UsageError("unknown subcommand '" + args.command + "'");
  } catch (const UsageError&) {
    throw;  // reported by main, with exit status 2
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sekisho device %s: %s\n", args.command.c_str(), e.what());
    return 1;
  }
}

}  // namespace sekisho::cli
