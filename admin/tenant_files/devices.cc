#include "admin/tenant_files/devices.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace sekisho::config {

std::string generate_device_token() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr unsigned kSize = sizeof kAlphabet - 1;
  // Bytes ≥ 252 (7 × 36) are redrawn so every character is equally likely.
  static constexpr unsigned kLimit = 256 / kSize * kSize;
  std::string token;
  while (token.size() < 20) {
    uint8_t bytes[32];
    ssize_t n = getrandom(bytes, sizeof bytes, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed: cannot generate a device token");
    }
    for (ssize_t i = 0; i < n && token.size() < 20; ++i)
      if (bytes[i] < kLimit) token += kAlphabet[bytes[i] % kSize];
  }
  return token;
}

std::string add_device(TenantFileContent& content, const std::string& name, std::string& token) {
  TenantSettings& t = content.tenant;
  if (name.empty()) return "a device needs a name";
  for (const auto& d : t.devices) {
    if (d.name == name) return "tenant '" + t.id + "' already has a device named '" + name + "'";
    if (!token.empty() && d.token == token) return "token '" + token + "' is already used by device '" + d.name + "'";
  }
  if (t.max_devices != 0 && t.devices.size() >= t.max_devices)
    return "tenant '" + t.id + "' already has " + std::to_string(t.devices.size()) + " devices, its max_devices limit (" +
           std::to_string(t.max_devices) + "); revoke one or raise max_devices";
  if (token.empty()) token = generate_device_token();
  DeviceSettings d;
  d.name = name;
  d.token = token;
  t.devices.push_back(std::move(d));
  return {};
}

std::string revoke_device(TenantFileContent& content, const std::string& name) {
  auto& devices = content.tenant.devices;
  auto it = std::find_if(devices.begin(), devices.end(), [&](const DeviceSettings& d) { return d.name == name; });
  if (it == devices.end()) return "tenant '" + content.tenant.id + "' has no device named '" + name + "'";
  devices.erase(it);
  return {};
}

}  // namespace sekisho::config
