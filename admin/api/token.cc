#include "admin/api/token.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "base/base64url.h"

namespace sekisho::admin {

std::string new_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes available for a token");
  return "sk_" + base::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace sekisho::admin
