// Cache and coalescing key: lowercased qname wire + qtype + qclass + the DO and CD bits
// (answers with and without DNSSEC records, or with checking disabled, differ), and, for a
// tenant that forwards EDNS Client Subnet, the subnet sent upstream (an answer tailored to one
// /24 must not be served to another; the name's wire form ends at its root label, so the parts
// never run into each other), and, for a name in a tenant's forward zone (split DNS), the
// zone's view number: one tenant's internal answer is never another's (or the public
// upstreams') answer. Built on the stack; hashing and comparing it allocates nothing.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "base/keyed_hash.h"
#include "dns/edns.h"
#include "dns/wire.h"

namespace sekisho::cache {

struct CacheKey {
  uint8_t bytes[dns::kMaxNameWire + 5 + 2 + 16 + 2];
  uint16_t length = 0;
  uint64_t hash = 0;

  std::string_view view() const { return {reinterpret_cast<const char*>(bytes), length}; }
  bool operator==(const CacheKey& o) const { return length == o.length && std::memcmp(bytes, o.bytes, length) == 0; }
};

// Keyed (base/keyed_hash.h): clients choose the names, so they must not be able to compute
// which ones share a cache set or an in-flight bucket. Computed once per query; the cache, the
// loop's in-flight map and the engine's InflightRegistry all use it.
inline uint64_t hash_bytes(const uint8_t* p, size_t n) { return base::keyed_hash(p, n); }

// `name` is the lowercased qname wire (at most dns::kMaxNameWire bytes); `subnet` the ECS the
// upstream is asked with (family 0: none); `view` the forward zone's upstreams (0: the global
// ones; resolver/runtime.h).
inline CacheKey make_key(std::span<const uint8_t> name, uint16_t qtype, uint16_t qclass, bool do_bit, bool cd_bit,
                         const dns::ClientSubnet& subnet = {}, uint16_t view = 0) {
  CacheKey k;
  std::memcpy(k.bytes, name.data(), name.size());
  size_t n = name.size();
  dns::write_u16(k.bytes + n, qtype);
  dns::write_u16(k.bytes + n + 2, qclass);
  k.bytes[n + 4] = static_cast<uint8_t>((do_bit ? 1 : 0) | (cd_bit ? 2 : 0) | (subnet.family ? 4 : 0) | (view ? 8 : 0));
  n += 5;
  if (view) {
    dns::write_u16(k.bytes + n, view);
    n += 2;
  }
  if (subnet.family) {
    k.bytes[n] = subnet.family;
    k.bytes[n + 1] = subnet.source_prefix;
    std::memcpy(k.bytes + n + 2, subnet.address, subnet.address_bytes());
    n += 2 + subnet.address_bytes();
  }
  k.length = static_cast<uint16_t>(n);
  k.hash = hash_bytes(k.bytes, k.length);
  return k;
}

inline CacheKey make_key(const dns::Question& q, bool do_bit, bool cd_bit) {
  return make_key({q.qname_lower, q.qname_len}, q.qtype, q.qclass, do_bit, cd_bit);
}

}  // namespace sekisho::cache
