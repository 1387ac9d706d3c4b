// Profiles are built from the configuration sekishod runs with (the same loader and compile
// step), so a profile is never issued for a token the server would refuse.
#include "admin/cli/profile.h"

#include <openssl/x509.h>

#include <cstdio>
#include <cstring>

#include "admin/cli/flags.h"
#include "policy/configuration.h"
#include "admin/profiles/apple_profile.h"
#include "admin/profiles/device_endpoints.h"
#include "certs/x509_build.h"

namespace sekisho::cli {
namespace {

constexpr const char* kUsage =
    "usage: sekisho profile apple --config FILE --tenant ID --device NAME [--ca-cert PEM]\n"
    "                             [--sign-cert PEM --sign-key PEM] [-o OUT.mobileconfig]\n"
    "       sekisho profile android --config FILE --tenant ID --device NAME\n"
    "apple: a configuration profile for DoH with the device's token (stdout unless -o), with the\n"
    "       inspection CA as a trusted root when --ca-cert is given, signed (CMS, DER) when\n"
    "       --sign-cert/--sign-key are given. android: the Private DNS host name.\n";

struct Device {
  config::Settings settings;
  std::string tenant_name;
  std::string token;
};

// The device as the valid configuration defines it; throws with the reason otherwise.
Device find_device(const std::map<std::string, std::string>& flags) {
  const std::string& config_path = required(flags, "--config");
  const std::string& tenant = required(flags, "--tenant");
  const std::string& device = required(flags, "--device");
  policy::Configuration loaded = policy::load_configuration(config_path);
  if (!loaded.ok()) {
    std::string text = config_path + " is not valid (" + std::to_string(loaded.errors.size()) + " errors):";
    for (const auto& e : loaded.errors) text += "\n  " + e.to_string();
    throw std::runtime_error(text);
  }
  if (loaded.settings.server.public_name.empty())
    throw std::runtime_error(config_path + ": server.public_name is not set; profiles need the name devices reach this server by");
  for (const auto& t : loaded.settings.tenants) {
    if (t.id != tenant) continue;
    for (const auto& d : t.devices)
      if (d.name == device) return Device{loaded.settings, t.name, d.token};
    throw std::runtime_error("tenant '" + tenant + "' has no device named '" + device + "' (sekisho device add)");
  }
  throw std::runtime_error("no tenant '" + tenant + "' in " + config_path);
}

void emit(const std::map<std::string, std::string>& flags, const std::string& data) {
  auto out = flags.find("-o");
  if (out == flags.end()) {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
      throw std::runtime_error("cannot write the profile to stdout");
    return;
  }
  certs::replace_file(out->second, data, 0644);
  std::fprintf(stderr, "wrote %s (%zu bytes)\n", out->second.c_str(), data.size());
}

int apple(const std::map<std::string, std::string>& flags) {
  if (flags.count("--sign-cert") != flags.count("--sign-key")) throw UsageError("give both --sign-cert and --sign-key");
  const Device dev = find_device(flags);
  if (dev.settings.server.doh_listen.empty())
    std::fprintf(stderr, "sekisho profile: warning: server.listen.doh is empty; the profile points at port 443\n");
  profiles::AppleProfileInput in;
  in.public_name = dev.settings.server.public_name;
  in.server_url = profiles::doh_url(dev.settings.server, dev.token);
  in.tenant_id = flags.at("--tenant");
  in.tenant_name = dev.tenant_name;
  in.device_name = flags.at("--device");
  if (auto ca = flags.find("--ca-cert"); ca != flags.end()) {
    certs::X509Ptr cert = certs::cert_from_pem(certs::read_file(ca->second), ca->second);
    in.ca_cert_der = certs::to_der(cert.get());
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) > 0)
      in.ca_cert_name = cn;
    else
      in.ca_cert_name = ca->second;
  }
  std::string data = profiles::apple_profile_xml(in);
  if (flags.count("--sign-cert")) data = profiles::sign_profile(data, flags.at("--sign-cert"), flags.at("--sign-key"));
  emit(flags, data);
  return 0;
}

int android(const std::map<std::string, std::string>& flags) {
  const Device dev = find_device(flags);
  if (dev.settings.server.dot_listen.empty())
    std::fprintf(stderr, "sekisho profile: warning: server.listen.dot is empty; Private DNS expects DoT on port 853\n");
  std::printf("%s\n", profiles::dot_hostname(dev.settings.server, dev.token).c_str());
  return 0;
}

}  // namespace

int run_profile(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string kind = argv[1];
  try {
    if (kind == "apple")
      return apple(parse_flags(argc - 1, argv + 1,
                               {"--config", "--tenant", "--device", "--ca-cert", "--sign-cert", "--sign-key", "-o"}));
    if (kind == "android") return android(parse_flags(argc - 1, argv + 1, {"--config", "--tenant", "--device"}));
    throw UsageError("unknown profile kind '" + kind + "' (apple | android)");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sekisho profile: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sekisho profile %s: %s\n", kind.c_str(), e.what());
    return 1;
  }
}

}  // namespace sekisho::cli
