// A tenant's certificate authority: created once by `sekisho ca init`, read by sekisho-intercept
// to sign leaf certificates. Layout: <ca_dir>/<tenant>/ca.crt (0644) and ca.key (0600), with
// <ca_dir>/default for tenants without their own CA. sekishod never opens these files.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "certs/cert_error.h"

namespace sekisho::certs {

inline constexpr const char* kDefaultCaName = "default";
inline constexpr const char* kCaCertFile = "ca.crt";
inline constexpr const char* kCaKeyFile = "ca.key";

// <ca_dir>/<tenant>, or <ca_dir>/default when tenant is empty. Throws CertError for a tenant id
// that could leave ca_dir ('/', "..", empty segments).
std::string ca_directory(const std::string& ca_dir, std::string_view tenant);

struct CaOptions {
  std::string common_name;   // subject CN, e.g. "sekisho inspection CA (acme)"
  int validity_days = 3650;  // a root users install once; rotating it means re-deploying profiles
};

// Creates dir (0700, parents as needed) with a new self-signed ECDSA P-256 CA
// (CA:TRUE, pathlen:0, keyCertSign|cRLSign). Refuses (CertError) if either file exists: an
// existing CA is what every device already trusts.
void create_ca(const std::string& dir, const CaOptions& options);

class CertificateAuthority {
 public:
  // Reads dir/ca.crt and dir/ca.key; checks that they belong together and that the
  // certificate is a CA. Throws CertError naming the file.
  static std::unique_ptr<CertificateAuthority> load(const std::string& dir);

  X509* cert() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  const std::string& dir() const { return dir_; }
  std::string pem() const;
  std::string der() const;

 private:
  CertificateAuthority() = default;
  std::string dir_;
  base::X509Ptr cert_;
  base::PkeyPtr key_;
};

}  // namespace sekisho::certs
