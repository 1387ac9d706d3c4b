// Tenant by client address: the most specific configured network wins (longest prefix).
// One hash table per prefix length that is in use, probed from the longest length down, so a
// lookup costs a handful of hash probes however many networks there are, and allocates nothing.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace sekisho::policy {

constexpr uint16_t kNoTenant = 0xFFFF;

class TenantTable {
 public:
  // Returns false when exactly this network was added before (the caller reports it).
  bool add(int family, const uint8_t* address, uint8_t prefix_length, uint16_t tenant, uint16_t* existing);

  // family AF_INET (4 bytes) or AF_INET6 (16 bytes; v4-mapped addresses are looked up as IPv4).
  uint16_t find(int family, const uint8_t* address) const;
  uint16_t find(const sockaddr* sa) const;

 private:
  struct Key {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>{}(k.hi * 0x9E3779B97F4A7C15ull ^ k.lo); }
  };
  struct Family {
    std::array<std::unordered_map<Key, uint16_t, KeyHash>, 129> by_length;
    std::vector<uint8_t> lengths;  // in use, longest first
  };
  static Key masked(const uint8_t* address, unsigned bytes, unsigned prefix);
  uint16_t find_in(const Family& f, const uint8_t* address, unsigned bytes) const;

  Family v4_, v6_;
};

}  // namespace sekisho::policy
