#include "policy/tenants.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sekisho::policy {

TenantTable::Key TenantTable::masked(const uint8_t* address, unsigned bytes, unsigned prefix) {
  uint8_t buf[16] = {};
  const unsigned full = std::min(prefix / 8, bytes);
  std::memcpy(buf, address, full);
  if (prefix % 8 && full < bytes) buf[full] = static_cast<uint8_t>(address[full] & (0xFF << (8 - prefix % 8)));
  Key k;
  std::memcpy(&k.hi, buf, 8);
  std::memcpy(&k.lo, buf + 8, 8);
  return k;
}

bool TenantTable::add(int family, const uint8_t* address, uint8_t prefix, uint16_t tenant, uint16_t* existing) {
  Family& f = family == AF_INET ? v4_ : v6_;
  const unsigned bytes = family == AF_INET ? 4 : 16;
  auto [it, inserted] = f.by_length[prefix].try_emplace(masked(address, bytes, prefix), tenant);
  if (!inserted) {
    if (existing) *existing = it->second;
    return false;
  }
  if (std::find(f.lengths.begin(), f.lengths.end(), prefix) == f.lengths.end()) {
    f.lengths.push_back(prefix);
    std::sort(f.lengths.begin(), f.lengths.end(), std::greater<>());
  }
  return true;
}

uint16_t TenantTable::find_in(const Family& f, const uint8_t* address, unsigned bytes) const {
  for (uint8_t prefix : f.lengths) {
    const auto& table = f.by_length[prefix];
    auto it = table.find(masked(address, bytes, prefix));
    if (it != table.end()) return it->second;
  }
  return kNoTenant;
}

uint16_t TenantTable::find(int family, const uint8_t* address) const {
  if (family == AF_INET) return find_in(v4_, address, 4);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address, kMapped, 12) == 0) return find_in(v4_, address + 12, 4);
  return find_in(v6_, address, 16);
}

uint16_t TenantTable::find(const sockaddr* sa) const {
  if (sa->sa_family == AF_INET)
    return find(AF_INET, reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr));
  if (sa->sa_family == AF_INET6)
    return find(AF_INET6, reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr));
  return kNoTenant;
}

}  // namespace sekisho::policy
