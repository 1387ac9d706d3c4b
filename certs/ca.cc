#include "certs/ca.h"

#include <openssl/x509v3.h>

#include <filesystem>
#include <system_error>

#include "base/file.h"
#include "certs/x509_build.h"

namespace sekisho::certs {

std::string ca_directory(const std::string& ca_dir, std::string_view tenant) {
  if (tenant.empty()) tenant = kDefaultCaName;
  if (tenant == "." || tenant == ".." || tenant.find('/') != std::string_view::npos ||
      tenant.find('\0') != std::string_view::npos)
    throw CertError("'" + std::string(tenant) + "' cannot name a CA directory");
  return (std::filesystem::path(ca_dir) / std::string(tenant)).string();
}

void create_ca(const std::string& dir, const CaOptions& options) {
  namespace fs = std::filesystem;
  const std::string cert_path = (fs::path(dir) / kCaCertFile).string();
  const std::string key_path = (fs::path(dir) / kCaKeyFile).string();
  std::error_code ec;
  for (const auto& p : {cert_path, key_path})
    if (fs::exists(p, ec)) throw CertError(p + ": already exists; refusing to replace a CA devices may trust");
  if (std::string error = base::make_directories(dir, 0700); !error.empty()) throw CertError(error);
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) throw CertError(dir + ": cannot set mode 0700: " + ec.message());

  base::PkeyPtr key = make_ec_key();
  base::X509Ptr cert(X509_new());
  if (!cert) fail("allocating the CA certificate");
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  // Backdated an hour: a device whose clock is slightly behind must still accept it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(options.validity_days) * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("sekisho"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(options.common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) fail("setting the CA public key");
  add_extension(cert.get(), nullptr, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), nullptr, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), nullptr, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), nullptr, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) fail("signing the CA certificate");

  // Key first: a crash between the two leaves a key without a certificate, which init refuses
  // to overwrite rather than silently pairing a new certificate with a stranger's key.
  write_new_file(key_path, key_to_pem(key.get()), 0600);
  write_new_file(cert_path, to_pem(cert.get()), 0644);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::load(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string cert_path = (fs::path(dir) / kCaCertFile).string();
  const std::string key_path = (fs::path(dir) / kCaKeyFile).string();
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->dir_ = dir;
  ca->cert_ = cert_from_pem(read_file(cert_path), cert_path);
  ca->key_ = key_from_pem(read_file(key_path), key_path);
  if (X509_check_private_key(ca->cert_.get(), ca->key_.get()) != 1)
    fail(key_path + ": does not match the certificate " + cert_path);
  if (X509_check_ca(ca->cert_.get()) == 0) throw CertError(cert_path + ": is not a CA certificate");
  return ca;
}

std::string CertificateAuthority::pem() const { return to_pem(cert_.get()); }
std::string CertificateAuthority::der() const { return to_der(cert_.get()); }

}  // namespace sekisho::certs
