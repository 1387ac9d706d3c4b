// Owning handles for OpenSSL objects and the error text they leave behind. Used by every file
// in certs/ so that each failure path frees what it built and reports OpenSSL's own reason.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace sekisho::certs {

// Every certs/ failure: what we were doing, with which file or name, and OpenSSL's reason.
struct CertError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Drains OpenSSL's thread-local error queue into one line ("" when empty).
inline std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

[[noreturn]] inline void fail(const std::string& what) {
  std::string why = openssl_errors();
  throw CertError(why.empty() ? what : what + ": " + why);
}

}  // namespace sekisho::certs
