// base/keyed_hash.h — the hash of every in-memory table whose keys a client chooses (the answer
// cache and the in-flight registries keyed by query name, the category memo, the query log's
// statistics, string maps): SipHash-1-3 under a key drawn from the kernel once per process.
//
// Why keyed: with a fixed hash (FNV-1a before), anyone can compute names that fall into one
// cache set and evict a chosen entry, or names that chain in one bucket and turn each lookup
// into a scan. Unbound and Knot seed their tables per process for the same reason.
//
// Why SipHash: it is a pseudorandom function of its 128-bit key (Aumasson & Bernstein, "SipHash:
// a fast short-input PRF", 2012), so outputs seen by a client say nothing useful about others,
// and no key-independent collisions exist, unlike seeded mixers of the MurmurHash/CityHash
// class (the same paper breaks them whatever the seed) or wyhash-style multiply-folds (a
// product can be forced to zero). 1-3 rounds (one per 8-byte word, three to finish) is what
// Rust's HashMap and CPython use: for our 10–40-byte keys it costs a few dozen instructions
// more than FNV-1a per key. OpenSSL's EVP_MAC SipHash would add a context allocation and an
// indirect call per query. Written from the paper; the 2-4 variant is checked against its
// test vector (tests/unit/base/keyed_hash_test.cc). Reads words little-endian, as specified.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sekisho::base {

struct HashKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

namespace detail {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void sip_round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

// Little-endian 8-byte load (x86-64 and arm64 are little-endian; memcpy is one mov there).
inline uint64_t load_le64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

}  // namespace detail

// SipHash-c-d of `n` bytes at `data` under `key` (the paper's §2: compression rounds per word,
// finalization rounds at the end, the last word carrying the length's low byte).
template <int C, int D>
inline uint64_t siphash(const HashKey& key, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = key.k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = key.k1 ^ 0x7465646279746573ULL;
  const size_t whole = n & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    const uint64_t m = detail::load_le64(p + i);
    v3 ^= m;
    for (int r = 0; r < C; ++r) detail::sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t i = 0; i < (n & 7); ++i) last |= static_cast<uint64_t>(p[whole + i]) << (8 * i);
  v3 ^= last;
  for (int r = 0; r < C; ++r) detail::sip_round(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xff;
  for (int r = 0; r < D; ++r) detail::sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

// 128 bits from the kernel's CSPRNG (getrandom); see keyed_hash.cc for the fallback.
HashKey random_hash_key();

// This process's key, drawn on first use. Every table in the process uses the same key, so a
// hash computed once (the cache key's) serves the cache, the loop's and the engine's in-flight
// maps alike; another process (a restart, the intercept) has another key.
inline const HashKey& process_hash_key() {
  static const HashKey key = random_hash_key();
  return key;
}

// The keyed hash of `n` bytes: SipHash-1-3 under the process key. Allocates nothing.
inline uint64_t keyed_hash(const void* data, size_t n) { return siphash<1, 3>(process_hash_key(), data, n); }
inline uint64_t keyed_hash(std::string_view s) { return keyed_hash(s.data(), s.size()); }

// For std::unordered_map / set keyed by strings a client chooses (transparent: looked up with a
// string_view, no std::string built).
struct KeyedStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return static_cast<size_t>(keyed_hash(s)); }
};

}  // namespace sekisho::base
