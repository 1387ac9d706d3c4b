// admin/cli/ca.cc — `sekisho ca`: create a tenant's inspection CA and print its certificate
// for distribution (browsers, device profiles). The CA directory comes from --dir, else from
// the configuration's intercept.ca_dir (--config), else the built-in default.
#include "admin/cli/ca.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "config/yaml/load.h"
#include "certs/ca.h"

namespace sekisho::cli {
namespace {

constexpr const char* kUsage =
    "usage: sekisho ca init   [--tenant ID] [--dir CA_DIR | --config FILE] [--name COMMON_NAME]\n"
    "       sekisho ca export [--tenant ID] [--dir CA_DIR | --config FILE] [--der]\n"
    "  The CA lives in CA_DIR/ID (CA_DIR/default without --tenant): ca.crt and ca.key (mode 0600).\n"
    "  init refuses to replace an existing CA; export prints the certificate (PEM, or DER with --der).\n";

struct Args {
  std::string command, tenant, dir, config, name;
  bool der = false;
};

bool parse(int argc, char** argv, Args& a, std::string& why) {
  if (argc < 2) {
    why = "missing subcommand";
    return false;
  }
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string opt = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        why = opt + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    if (opt == "--tenant") {
      if (!value(a.tenant)) return false;
    } else if (opt == "--dir") {
      if (!value(a.dir)) return false;
    } else if (opt == "--config") {
      if (!value(a.config)) return false;
    } else if (opt == "--name") {
      if (!value(a.name)) return false;
    } else if (opt == "--der") {
      a.der = true;
    } else {
      why = "unknown option '" + opt + "'";
      return false;
    }
  }
  if (!a.dir.empty() && !a.config.empty()) {
    why = "give --dir or --config, not both";
    return false;
  }
  return true;
}

// The CA root directory, and (with --config) a check that the tenant exists.
bool resolve_ca_dir(const Args& a, std::string& ca_dir) {
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

int run_ca(int argc, char** argv) {
  Args a;
  std::string why;
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!parse(argc, argv, a, why)) {
    std::cerr << "sekisho ca: " << why << "\n" << kUsage;
    return 2;
  }
  if (a.command != "init" && a.command != "export") {
    std::cerr << "sekisho ca: unknown subcommand '" << a.command << "'\n" << kUsage;
    return 2;
  }
  std::string ca_dir;
  if (!resolve_ca_dir(a, ca_dir)) return 1;
  try {
    const std::string dir = certs::ca_directory(ca_dir, a.tenant);
    if (a.command == "init") {
      certs::CaOptions options;
      options.common_name = !a.name.empty() ? a.name
                            : a.tenant.empty() ? "sekisho inspection CA"
                                               : "sekisho inspection CA (" + a.tenant + ")";
      certs::create_ca(dir, options);
      std::cerr << "sekisho ca: created " << dir << "/" << certs::kCaCertFile << " and " << certs::kCaKeyFile
                << " (mode 0600)\n";
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
