// admin/cli/ca.cc — `sekisho ca`: create a tenant's inspection CA and print its certificate
// for distribution (browsers, device profiles). The CA directory comes from --dir, else from
// the configuration's intercept.ca_dir (--config), else the built-in default.
#include "admin/cli/ca.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "admin/cli/audit.h"
#include "base/usage_error.h"
#include "config/yaml/load.h"
#include "certs/ca.h"

namespace sekisho::cli {
namespace {

// The CA root directory, and (with --config) a check that the tenant exists.
bool resolve_ca_dir(const CaArgs& a, std::string& ca_dir) {
  if (!a.dir.empty()) {
    ca_dir = a.dir;
    return true;
  }
  config::InterceptSettings defaults;
  ca_dir = defaults.ca_dir;
  if (a.config.empty()) return true;
  config::LoadResult loaded = config::load_config_file(a.config);
  for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
  if (!loaded.ok()) return false;
  ca_dir = loaded.settings.intercept.ca_dir;
  if (a.tenant.empty()) return true;
  for (const auto& t : loaded.settings.tenants)
    if (t.id == a.tenant) return true;
  std::cerr << "sekisho ca: " << a.config << ": no tenant '" << a.tenant << "'\n";
  return false;
}

}  // namespace

int run_ca(const CaArgs& a) {
  if (!a.dir.empty() && !a.config.empty()) throw command_line::UsageError("give --dir or --config, not both");
  std::string ca_dir;
  if (!resolve_ca_dir(a, ca_dir)) return 1;
  try {
    const std::string dir = certs::ca_directory(ca_dir, a.tenant);
    if (a.command == "init") {
      certs::CaOptions options;
      options.common_name = !a.name.empty() ? a.name
                            : a.tenant.empty() ? "sekisho inspection CA"
                                               : "sekisho inspection CA (" + a.tenant + ")";
      try {
        certs::create_ca(dir, options);
      } catch (const certs::CertError&) {
        audit_command(a.config, "create an inspection CA", a.tenant, nullptr, {{"directory", dir}}, 1);
        throw;
      }
      std::cerr << "sekisho ca: created " << dir << "/" << certs::kCaCertFile << " and " << certs::kCaKeyFile
                << " (mode 0600)\n";
      audit_command(a.config, "create an inspection CA", a.tenant, nullptr, {{"directory", dir}}, 0);
      return 0;
    }
    auto ca = certs::CertificateAuthority::load(dir);
    const std::string out = a.der ? ca->der() : ca->pem();
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      std::cerr << "sekisho ca: writing to stdout failed: " << std::strerror(errno) << "\n";
      return 1;
    }
    return 0;
  } catch (const certs::CertError& e) {
    std::cerr << "sekisho ca: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sekisho::cli
