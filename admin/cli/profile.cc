// Profiles are built from the configuration sekishod runs with (the same loader and compile
// step), so a profile is never issued for a token the server would refuse.
#include "admin/cli/profile.h"

#include <openssl/x509.h>

#include <cstdio>

#include "policy/configuration.h"
#include "admin/profiles/apple_profile.h"
#include "admin/profiles/device_endpoints.h"
#include "base/usage_error.h"
#include "certs/x509_build.h"

namespace sekisho::cli {
namespace {

using command_line::required;
using command_line::UsageError;

struct Device {
  config::Settings settings;
  std::string tenant_name;
  std::string token;
};

// The device as the valid configuration defines it; throws with the reason otherwise.
Device find_device(const ProfileArgs& args) {
  const std::string& config_path = required(args.config, "--config");
  const std::string& tenant = required(args.tenant, "--tenant");
  const std::string& device = required(args.device, "--device");
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

void emit(const ProfileArgs& args, const std::string& data) {
  if (args.output.empty()) {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
      throw std::runtime_error("cannot write the profile to stdout");
    return;
  }
  certs::replace_file(args.output, data, 0644);
  std::fprintf(stderr, "wrote %s (%zu bytes)\n", args.output.c_str(), data.size());
}

int apple(const ProfileArgs& args) {
  if (args.sign_cert.empty() != args.sign_key.empty()) throw UsageError("give both --sign-cert and --sign-key");
  const Device dev = find_device(args);
  if (dev.settings.server.doh_listen.empty())
    std::fprintf(stderr, "sekisho profile: warning: server.listen.doh is empty; the profile points at port 443\n");
  profiles::AppleProfileInput in;
  in.public_name = dev.settings.server.public_name;
  in.server_url = profiles::doh_url(dev.settings.server, dev.token);
  in.tenant_id = args.tenant;
  in.tenant_name = dev.tenant_name;
  in.device_name = args.device;
  if (const std::string& ca = args.ca_cert; !ca.empty()) {
    base::X509Ptr cert = certs::cert_from_pem(certs::read_file(ca), ca);
    in.ca_cert_der = certs::to_der(cert.get());
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) > 0)
      in.ca_cert_name = cn;
    else
      in.ca_cert_name = ca;
  }
  std::string data = profiles::apple_profile_xml(in);
  if (!args.sign_cert.empty()) data = profiles::sign_profile(data, args.sign_cert, args.sign_key);
  emit(args, data);
  return 0;
}

int android(const ProfileArgs& args) {
  const Device dev = find_device(args);
  if (dev.settings.server.dot_listen.empty())
    std::fprintf(stderr, "sekisho profile: warning: server.listen.dot is empty; Private DNS expects DoT on port 853\n");
  std::printf("%s\n", profiles::dot_hostname(dev.settings.server, dev.token).c_str());
  return 0;
}

}  // namespace

int run_profile(const ProfileArgs& args) {
  try {
    if (args.kind == "apple") return apple(args);
    if (args.kind == "android") return android(args);
    throw UsageError("unknown profile kind '" + args.kind + "' (apple | android)");
  } catch (const UsageError&) {
    throw;  // reported by main, with exit status 2
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sekisho profile %s: %s\n", args.kind.c_str(), e.what());
    return 1;
  }
}

}  // namespace sekisho::cli
