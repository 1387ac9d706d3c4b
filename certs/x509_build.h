// Building blocks shared by the CA and the leaf minter: P-256 keys, random serials, X.509v3
// extensions, PEM/DER encoding, and files written with the right mode in one step.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "certs/cert_error.h"

namespace sekisho::certs {

// A fresh ECDSA P-256 key (the curve every TLS client accepts; signing is cheap).
base::PkeyPtr make_ec_key();

// 159 random bits, top bit clear so the DER INTEGER stays positive (RFC 5280 §4.1.2.2 asks for
// at most 20 octets, and browsers want unpredictable serials).
void set_random_serial(X509* cert);

// Adds one extension in openssl.cnf syntax ("critical,CA:TRUE,pathlen:0"); issuer may be null
// for self-signed certificates (the issuer is then the certificate itself).
void add_extension(X509* cert, X509* issuer, int nid, const char* value);

std::string to_pem(X509* cert);
std::string to_der(X509* cert);
std::string key_to_pem(EVP_PKEY* key);  // PKCS#8, unencrypted: the file mode protects it

base::X509Ptr cert_from_pem(std::string_view pem, const std::string& context);
base::PkeyPtr key_from_pem(std::string_view pem, const std::string& context);

// Reads a whole file; throws CertError naming the path.
std::string read_file(const std::string& path);

// Creates `path` with `mode` and O_EXCL (never replaces an existing file), writes and fsyncs.
// Throws CertError naming the path (EEXIST included).
void write_new_file(const std::string& path, std::string_view data, unsigned mode);

// Writes `path` atomically with exactly `mode` (base::write_file_atomically: temporary file in the
// same directory, fsync, rename, directory fsync): readers see the old content or the new one,
// never half a file. Throws CertError with base's message (which names the file).
void replace_file(const std::string& path, std::string_view data, unsigned mode);

}  // namespace sekisho::certs
