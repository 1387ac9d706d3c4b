// Owning handles for OpenSSL objects, the error text OpenSSL leaves behind, and SHA-256 in hex.
// Used by certs/, the admin service (token digests, profile signing) and their tests, so that
// each failure path frees what it built and reports OpenSSL's own reason.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace sekisho::base {

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
std::string openssl_errors();

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace sekisho::base
