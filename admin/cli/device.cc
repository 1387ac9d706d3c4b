// The file is changed only through write_tenant_file with the ETag of the read it started from,
// so a concurrent admin API edit between our read and our write makes us refuse, not overwrite.
#include "admin/cli/device.h"

#include <cstdio>
#include <cstring>

#include "admin/cli/flags.h"
#include "admin/tenant_files/devices.h"
#include "config/yaml/load.h"
#include "admin/tenant_files/tenant_file.h"
#include "admin/profiles/device_endpoints.h"

namespace sekisho::cli {
namespace {

constexpr const char* kUsage =
    "usage: sekisho device add --config FILE --tenant ID --device NAME [--token TOKEN]\n"
    "       sekisho device list --config FILE [--tenant ID]\n"
    "       sekisho device revoke --config FILE --tenant ID --device NAME\n"
    "Devices are written to tenants.d/<tenant>.yaml beside FILE; sekishod applies them on SIGHUP.\n"
    "A token (8-32 of a-z 0-9) is generated when --token is not given.\n";

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

int add(const std::map<std::string, std::string>& flags) {
  const std::string& config_path = required(flags, "--config");
  const std::string& tenant = required(flags, "--tenant");
  const std::string& name = required(flags, "--device");
  std::string token = flags.count("--token") ? flags.at("--token") : std::string();
  if (flags.count("--token") && token.empty()) throw UsageError("--token must not be empty (omit it to generate one)");
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

int revoke(const std::map<std::string, std::string>& flags) {
  const std::string& config_path = required(flags, "--config");
  const std::string& tenant = required(flags, "--tenant");
  const std::string& name = required(flags, "--device");
  const int rc = change_tenant(config_path, tenant,
                               [&](config::TenantFileContent& c) { return config::revoke_device(c, name); });
  if (rc != 0) return rc;
  std::printf("revoked device '%s' of tenant '%s'; its token stops working when sekishod reloads\n", name.c_str(),
              tenant.c_str());
  return 0;
}

// One line per device: tenant, device, token (tab-separated, for scripts).
int list(const std::map<std::string, std::string>& flags) {
  const std::string& config_path = required(flags, "--config");
  const std::string tenant = flags.count("--tenant") ? flags.at("--tenant") : std::string();
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

int run_device(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "add") return add(parse_flags(argc - 1, argv + 1, {"--config", "--tenant", "--device", "--token"}));
    if (command == "revoke") return revoke(parse_flags(argc - 1, argv + 1, {"--config", "--tenant", "--device"}));
    if (command == "list") return list(parse_flags(argc - 1, argv + 1, {"--config", "--tenant"}));
    throw UsageError("unknown subcommand '" + command + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sekisho device: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sekisho device %s: %s\n", command.c_str(), e.what());
    return 1;
  }
}

}  // namespace sekisho::cli
