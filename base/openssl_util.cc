#include "base/openssl_util.h"

#include <openssl/err.h>

#include "base/text.h"

namespace sekisho::base {

std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace sekisho::base
