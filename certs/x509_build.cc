#include "certs/x509_build.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/file.h"

namespace sekisho::certs {

base::PkeyPtr make_ec_key() {
  base::PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("generating a P-256 key");
  return key;
}

void set_random_serial(X509* cert) {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("drawing a random serial number");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x40;  // never a short (leading-zero) serial
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
    BN_free(bn);
    fail("setting the serial number");
  }
  BN_free(bn);
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) fail(std::string("building extension ") + OBJ_nid2sn(nid) + "=" + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) fail(std::string("adding extension ") + OBJ_nid2sn(nid));
}

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}
}  // namespace

std::string to_pem(X509* cert) {
  base::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("encoding a certificate as PEM");
  return bio_text(bio.get());
}

std::string to_der(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) fail("encoding a certificate as DER");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string key_to_pem(EVP_PKEY* key) {
  base::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("encoding a private key as PEM");
  return bio_text(bio.get());
}

base::X509Ptr cert_from_pem(std::string_view pem, const std::string& context) {
  base::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  base::X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) fail(context + ": no PEM certificate");
  return cert;
}

base::PkeyPtr key_from_pem(std::string_view pem, const std::string& context) {
  base::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  base::PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) fail(context + ": no PEM private key");
  return key;
}

std::string read_file(const std::string& path) {
  std::optional<std::string> text = base::read_file(path);
  if (!text) throw CertError(path + ": cannot open: " + std::strerror(errno));
  return std::move(*text);
}

void write_new_file(const std::string& path, std::string_view data, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw CertError(path + ": cannot create: " + std::strerror(errno));
  try {
    // The umask may have narrowed the mode; a key must be exactly 0600, a certificate 0644.
    if (::fchmod(fd, mode) != 0) throw CertError(path + ": chmod failed: " + std::strerror(errno));
    if (!base::write_all(fd, data)) throw CertError(path + ": write failed: " + std::strerror(errno));
    if (::fsync(fd) != 0) throw CertError(path + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(path.c_str());
    throw;
  }
  ::close(fd);
}

void replace_file(const std::string& path, std::string_view data, unsigned mode) {
  base::AtomicWrite how;
  how.mode = static_cast<mode_t>(mode);
  if (std::string error = base::write_file_atomically(path, data, how); !error.empty()) throw CertError(error);
}

}  // namespace sekisho::certs
