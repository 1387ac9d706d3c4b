// base/crc32c: the published check values, and the instruction path equal to the table.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/crc32c.h"

using sekisho::base::crc32c;
using sekisho::base::crc32c_portable;

TEST_CASE("crc32c: the check values of RFC 3720 B.4 and the CRC catalogue") {
  const std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283u);  // CRC-32/ISCSI check value
  CHECK(crc32c_portable(check.data(), check.size()) == 0xE3069283u);
  const std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF);
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  CHECK(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);    // 32 bytes of ones
  CHECK(crc32c(nullptr, 0) == 0);
}

TEST_CASE("crc32c: the instruction path equals the table for every length and alignment") {
  std::vector<unsigned char> bytes(300);
  uint32_t seed = 7;
  for (auto& b : bytes) b = static_cast<unsigned char>((seed = seed * 1103515245u + 12345u) >> 16);
  for (size_t start = 0; start < 8; ++start)
    for (size_t n = 0; start + n <= bytes.size(); n += 1 + n / 16) {
      CAPTURE(start);
      CAPTURE(n);
      CHECK(crc32c(bytes.data() + start, n) == crc32c_portable(bytes.data() + start, n));
    }
}
