// How certs/ fails: one exception type, carrying what we were doing, with which file or name,
// and OpenSSL's reason.
#pragma once

#include <stdexcept>
#include <string>

#include "base/openssl_util.h"

namespace sekisho::certs {

struct CertError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws CertError: `what`, followed by the reasons OpenSSL queued (drained), if any.
[[noreturn]] inline void fail(const std::string& what) {
  std::string why = base::openssl_errors();
  throw CertError(why.empty() ? what : what + ": " + why);
}

}  // namespace sekisho::certs
