// bench/filter/tenants_bench.cc: ns per tenant lookup (policy/tenants.h) for a table of
// NETWORKS random IPv4 networks over LENGTHS prefix lengths plus a 0.0.0.0/0 default, half the
// addresses looked up inside a network, half anywhere.
//
//   tenants_bench [NETWORKS] [LENGTHS (1-16)]
// Not a test: a speed probe for a large multi-tenant configuration (bench/filter/README.md).
#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "policy/tenants.h"

namespace {

void bytes_of(uint32_t address, uint8_t (&out)[4]) {
  out[0] = static_cast<uint8_t>(address >> 24);
  out[1] = static_cast<uint8_t>(address >> 16);
  out[2] = static_cast<uint8_t>(address >> 8);
  out[3] = static_cast<uint8_t>(address);
}

}  // namespace

int main(int argc, char** argv) {
  const int networks = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int lengths_used = argc > 2 ? std::atoi(argv[2]) : 16;
  static constexpr uint8_t kLengths[] = {32, 30, 28, 27, 26, 24, 23, 22, 21, 20, 19, 18, 17, 16, 12, 8};
  if (networks < 1 || lengths_used < 1 || lengths_used > 16) {
    std::fprintf(stderr, "usage: tenants_bench [NETWORKS >= 1] [LENGTHS 1-16]\n");
    return 2;
  }
  std::mt19937 rng(1);
  sekisho::policy::TenantTableBuilder builder;
  std::vector<uint32_t> starts;
  uint8_t b[4];
  for (int i = 0; i < networks; ++i) {
    const uint32_t a = rng();
    bytes_of(a, b);
    builder.add(AF_INET, b, kLengths[rng() % lengths_used], static_cast<uint16_t>(i % 60000), nullptr);
    starts.push_back(a);
  }
  bytes_of(0, b);
  builder.add(AF_INET, b, 0, 60001, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const sekisho::policy::TenantTable table = builder.build();
  const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::vector<uint32_t> queries(1 << 16);
  for (auto& q : queries) q = rng() % 2 ? starts[rng() % starts.size()] ^ (rng() & 0xff) : rng();
  constexpr int kRounds = 100;
  uint64_t sum = 0;  // printed, so the lookups cannot be optimised away
  const auto t1 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds; ++r)
    for (const uint32_t q : queries) {
      bytes_of(q, b);
      sum += table.find(AF_INET, b);
    }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t1).count() /
                    (static_cast<double>(kRounds) * static_cast<double>(queries.size()));
  std::printf("networks=%d lengths=%d build_ms=%.1f ns_per_find=%.1f checksum=%llu\n", networks, lengths_used, build_ms, ns,
              static_cast<unsigned long long>(sum));
}
