#include "policy/tenants.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace sekisho::policy {

namespace {

using V6 = unsigned __int128;

// Addresses as numbers, most significant byte first: network order is numeric order.
uint32_t v4_number(const uint8_t* a) {
  return uint32_t{a[0]} << 24 | uint32_t{a[1]} << 16 | uint32_t{a[2]} << 8 | uint32_t{a[3]};
}

V6 v6_number(const uint8_t* a) {
  V6 n = 0;
  for (int i = 0; i < 16; ++i) n = n << 8 | a[i];
  return n;
}

// The host bits of a /prefix in a `bits`-wide address.
V6 host_mask(unsigned prefix, unsigned bits) {
  const unsigned host = bits - prefix;
  return host == 0 ? 0 : host >= 128 ? ~V6{0} : (V6{1} << host) - 1;
}

// Paints [start, last] with `tenant` over what earlier (broader or disjoint) networks painted.
// Two networks are nested or disjoint, and networks arrive broadest first, so no boundary lies
// inside (start, last]: the range starts `tenant`, and at last + 1 whatever was in effect there
// goes on (kept when a boundary is already there).
template <class Key>
void paint(std::map<Key, uint16_t>& bounds, Key start, Key last, uint16_t tenant) {
  const bool to_the_end = last == static_cast<Key>(~Key{0});  // (numeric_limits misses __int128 in ISO mode)
  const uint16_t after = to_the_end ? kNoTenant : std::prev(bounds.upper_bound(last))->second;
  bounds[start] = tenant;
  if (!to_the_end) bounds.emplace(last + 1, after);
}

// `networks`: (prefix length, start) → tenant, broadest first (TenantTableBuilder::Networks).
template <class Key, class Networks, class Ranges>
void flatten(const Networks& networks, unsigned bits, Ranges& out) {
  std::map<Key, uint16_t> bounds{{Key{0}, kNoTenant}};
  for (const auto& [network, tenant] : networks) {
    const V6 start = network.second;
    paint<Key>(bounds, static_cast<Key>(start), static_cast<Key>(start | host_mask(network.first, bits)), tenant);
  }
  for (const auto& [start, tenant] : bounds) {
    if (!out.tenants.empty() && out.tenants.back() == tenant) continue;  // one range, not two
    out.starts.push_back(start);
    out.tenants.push_back(tenant);
  }
}

}  // namespace

bool TenantTableBuilder::add(int family, const uint8_t* address, uint8_t prefix, uint16_t tenant, uint16_t* existing) {
  const bool v4 = family == AF_INET;
  const unsigned bits = v4 ? 32 : 128;
  prefix = static_cast<uint8_t>(std::min<unsigned>(prefix, bits));
  const V6 start = (v4 ? V6{v4_number(address)} : v6_number(address)) & ~host_mask(prefix, bits);
  auto [it, inserted] = (v4 ? v4_ : v6_).try_emplace({prefix, start}, tenant);
  if (!inserted && existing) *existing = it->second;
  return inserted;
}

TenantTable TenantTableBuilder::build() const {
  TenantTable t;
  flatten<uint32_t>(v4_, 32, t.v4_);
  flatten<V6>(v6_, 128, t.v6_);
  return t;
}

template <class Key>
uint16_t TenantTable::Ranges<Key>::find(Key address) const {
  if (starts.empty()) return kNoTenant;  // never built
  // The last range starting at or below the address; starts[0] is 0, so there is one.
  const auto after = std::upper_bound(starts.begin(), starts.end(), address);
  return tenants[static_cast<size_t>(after - starts.begin()) - 1];
}

uint16_t TenantTable::find(int family, const uint8_t* address) const {
  if (family == AF_INET) return v4_.find(v4_number(address));
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address, kMapped, 12) == 0) return v4_.find(v4_number(address + 12));
  return v6_.find(v6_number(address));
}

uint16_t TenantTable::find(const sockaddr* sa) const {
  if (sa->sa_family == AF_INET)
    return find(AF_INET, reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr));
  if (sa->sa_family == AF_INET6)
    return find(AF_INET6, reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr));
  return kNoTenant;
}

}  // namespace sekisho::policy
