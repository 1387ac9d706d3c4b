// certs/: CA creation (files, modes, refusal to overwrite), and minted leaves verified the way a
// TLS client verifies them (X509_verify_cert against the CA as the only trust anchor, with the
// host name checked), cached in memory and on disk, renewed near expiry.
#include <doctest/doctest.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "certs/ca.h"
#include "certs/leaf_minter.h"
#include "certs/x509_build.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::certs;
namespace fs = std::filesystem;

namespace {

using sekisho::test::TempDir;

unsigned file_mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// X509_verify_cert with `ca` as the only anchor, at time `at`, for host `name`: what a browser does.
int verify(X509* leaf, X509* ca, const std::string& name, int64_t at) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
  X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::shared_ptr<CertificateAuthority> make_ca(const fs::path& dir) {
  create_ca(dir.string(), CaOptions{"test CA"});
  return CertificateAuthority::load(dir.string());
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace

TEST_CASE("ca: init writes a P-256 CA with pathlen 0, key 0600, and refuses to overwrite") {
  TempDir tmp;
  const fs::path dir = ca_directory(tmp.path.string(), "acme");
  CHECK(dir == tmp.path / "acme");
  CHECK(ca_directory(tmp.path.string(), "") == (tmp.path / "default").string());
  CHECK_THROWS_AS(ca_directory(tmp.path.string(), "../etc"), CertError);
  CHECK_THROWS_AS(ca_directory(tmp.path.string(), ".."), CertError);

  auto ca = make_ca(dir);
  CHECK(file_mode(dir / kCaKeyFile) == 0600);
  CHECK(file_mode(dir / kCaCertFile) == 0644);
  CHECK(file_mode(dir) == 0700);
  X509* cert = ca->cert();
  CHECK(X509_check_ca(cert) != 0);
  CHECK(X509_get_pathlen(cert) == 0);
  CHECK((X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) != 0);
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  CHECK(EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC);
  char group[64] = {};
  size_t glen = 0;
  REQUIRE(EVP_PKEY_get_group_name(pub, group, sizeof group, &glen) == 1);
  CHECK(std::string(group) == "prime256v1");
  CHECK(X509_verify(cert, pub) == 1);  // self-signed

  const std::string before = read_file((dir / kCaCertFile).string());
  CHECK_THROWS_WITH_AS(create_ca(dir.string(), CaOptions{"again"}), doctest::Contains("already exists"), CertError);
  CHECK(read_file((dir / kCaCertFile).string()) == before);

  // A key alone (crash between the two writes) is refused too, not paired with a new certificate.
  TempDir tmp2;
  fs::create_directories(tmp2.path / "x");
  write_new_file((tmp2.path / "x" / kCaKeyFile).string(), "k", 0600);
  CHECK_THROWS_AS(create_ca((tmp2.path / "x").string(), CaOptions{"x"}), CertError);

  // PEM and DER export describe the same certificate.
  const std::string der = ca->der();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  sekisho::base::X509Ptr parsed(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(parsed);
  CHECK(X509_cmp(parsed.get(), cert) == 0);
  CHECK(ca->pem().rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
}

TEST_CASE("ca: load rejects a key that does not belong to the certificate, and missing files") {
  TempDir tmp;
  make_ca(tmp.path / "a");
  make_ca(tmp.path / "b");
  fs::copy_file(tmp.path / "b" / kCaKeyFile, tmp.path / "a" / kCaKeyFile, fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH_AS(CertificateAuthority::load((tmp.path / "a").string()), doctest::Contains("does not match"),
                       CertError);
  CHECK_THROWS_WITH_AS(CertificateAuthority::load((tmp.path / "none").string()), doctest::Contains("cannot open"),
                       CertError);
}

TEST_CASE("leaf: minted for the SNI name, verifies against the tenant CA only, 7 days backdated 1 h") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "acme");
  auto other = make_ca(tmp.path / "other");
  int64_t now = 1'800'000'000;
  LeafMinter minter(ca, MinterOptions{}, [&] { return now; });
  auto leaf = minter.get("Casino.Example.COM");
  CHECK(leaf->name == "casino.example.com");
  CHECK(verify(leaf->cert.get(), ca->cert(), "casino.example.com", now) == X509_V_OK);
  CHECK(verify(leaf->cert.get(), ca->cert(), "other.example.com", now) == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(verify(leaf->cert.get(), other->cert(), "casino.example.com", now) != X509_V_OK);
  CHECK(verify(leaf->cert.get(), ca->cert(), "casino.example.com", now - 3500) == X509_V_OK);
  CHECK(verify(leaf->cert.get(), ca->cert(), "casino.example.com", now - 3700) == X509_V_ERR_CERT_NOT_YET_VALID);
  CHECK(verify(leaf->cert.get(), ca->cert(), "casino.example.com", now + 7 * 86400 + 60) == X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK(leaf->not_after == now + 7 * 86400);
  CHECK(X509_check_ca(leaf->cert.get()) == 0);
  CHECK(X509_check_private_key(leaf->cert.get(), leaf->key.get()) == 1);
  // Exactly one SAN, the name.
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf->cert.get(), NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(sans);
  CHECK(sk_GENERAL_NAME_num(sans) == 1);
  GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, 0);
  REQUIRE(gn->type == GEN_DNS);
  CHECK(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                    static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName))) == "casino.example.com");
  GENERAL_NAMES_free(sans);
  // Serials are random: two names, two different 20-byte serials.
  auto second = minter.get("poker.example.com");
  CHECK(serial_hex(leaf->cert.get()) != serial_hex(second->cert.get()));
  CHECK(serial_hex(leaf->cert.get()).size() == 40);
}

TEST_CASE("leaf: refuses names that are not host names") {
  TempDir tmp;
  LeafMinter minter(make_ca(tmp.path / "ca"), MinterOptions{});
  for (const char* bad : {"", "a..b", ".a", "a.", "-a.example", "a-.example", "a b.example", "a/b", "*.example.com",
                          "\xe6\x97\xa5.jp"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(minter.get(bad), CertError);
  }
  CHECK_THROWS_AS(minter.get(std::string("a\0b.example", 11)), CertError);
  CHECK_THROWS_AS(minter.get(std::string(64, 'a') + ".example"), CertError);
  CHECK_NOTHROW(minter.get(std::string(63, 'a') + ".example"));
  CHECK(minter.stats().minted == 1);
}

TEST_CASE("leaf: the cache directory and its missing parents are never world-writable, even under umask 000") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "ca");
  MinterOptions options;
  options.cache_dir = (tmp.path / "state" / "leaves").string();
  const mode_t old_umask = ::umask(0);
  LeafMinter minter(ca, options, [] { return int64_t{1'800'000'000}; });
  ::umask(old_umask);
  CHECK(file_mode(tmp.path / "state") == 0755);
  CHECK(file_mode(tmp.path / "state" / "leaves") == 0700);
}

TEST_CASE("leaf: reused from memory and from disk (0600), renewed near expiry, LRU bounded") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "ca");
  int64_t now = 1'800'000'000;
  MinterOptions options;
  options.cache_dir = (tmp.path / "cache").string();
  options.max_entries = 2;
  {
    LeafMinter minter(ca, options, [&] { return now; });
    auto a1 = minter.get("a.example");
    auto a2 = minter.get("a.example");
    CHECK(a1 == a2);
    CHECK(minter.stats().minted == 1);
    CHECK(minter.stats().memory_hits == 1);
    CHECK(file_mode(tmp.path / "cache" / "a.example.pem") == 0600);
    CHECK(file_mode(tmp.path / "cache") == 0700);

    // Three names through a two-entry LRU: "a" is evicted from memory, then found on disk.
    minter.get("b.example");
    minter.get("c.example");
    auto a3 = minter.get("a.example");
    CHECK(a3 != a1);
    CHECK(X509_cmp(a3->cert.get(), a1->cert.get()) == 0);
    CHECK(minter.stats().disk_hits == 1);
    CHECK(minter.stats().minted == 3);
  }
  // A new process (new minter) reuses the file instead of minting.
  std::string first_serial;
  {
    LeafMinter minter(ca, options, [&] { return now; });
    auto a = minter.get("a.example");
    first_serial = serial_hex(a->cert.get());
    CHECK(minter.stats().disk_hits == 1);
    CHECK(minter.stats().minted == 0);
    // Near expiry (within a day): replaced by a new certificate, on disk too.
    now += 6 * 86400 + 3600;
    auto renewed = minter.get("a.example");
    CHECK(serial_hex(renewed->cert.get()) != first_serial);
    CHECK(renewed->not_after == now + 7 * 86400);
    CHECK(verify(renewed->cert.get(), ca->cert(), "a.example", now) == X509_V_OK);
    CHECK(minter.stats().minted == 1);
  }
  // A cache file signed by another CA (the CA was replaced) is not served.
  auto other = make_ca(tmp.path / "other");
  LeafMinter minter(other, options, [&] { return now; });
  auto a = minter.get("a.example");
  CHECK(minter.stats().minted == 1);
  CHECK(verify(a->cert.get(), other->cert(), "a.example", now) == X509_V_OK);
  // A corrupt cache file is skipped and replaced.
  replace_file((tmp.path / "cache" / "b.example.pem").string(), "garbage", 0600);
  auto b = minter.get("b.example");
  CHECK(verify(b->cert.get(), other->cert(), "b.example", now) == X509_V_OK);
  CHECK(minter.stats().disk_errors == 1);
}

namespace {

size_t pem_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".pem";
  return n;
}

void set_age(const fs::path& file, int64_t seconds) {
  const auto t = fs::file_time_type::clock::now() - std::chrono::seconds(seconds);
  fs::last_write_time(file, t);
}

}  // namespace

TEST_CASE("leaf: the disk cache stays within its count and size, oldest deleted first") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "ca");
  MinterOptions options;
  options.cache_dir = (tmp.path / "cache").string();
  options.max_entries = 1;  // memory holds one: the rest must come from disk or be minted
  options.max_disk_entries = 5;
  LeafMinter minter(ca, options);
  for (int i = 0; i < 12; ++i) minter.get("n" + std::to_string(i) + ".example");
  CHECK(pem_files(tmp.path / "cache") == 5);
  CHECK(minter.stats().disk_files == 5);
  CHECK(minter.stats().disk_deleted == 7);
  // The newest five are kept: n7..n11; n0 is gone and is minted again.
  for (int i = 7; i < 12; ++i) CHECK(fs::exists(tmp.path / "cache" / ("n" + std::to_string(i) + ".example.pem")));
  CHECK_FALSE(fs::exists(tmp.path / "cache" / "n0.example.pem"));
  const uint64_t minted = minter.stats().minted;
  minter.get("n9.example");
  CHECK(minter.stats().minted == minted);  // from disk
  CHECK(minter.stats().disk_hits == 1);

  // By size: each file is a few hundred bytes, so 2 KiB holds a handful, never more.
  MinterOptions small = options;
  small.cache_dir = (tmp.path / "small").string();
  small.max_disk_entries = 1000;
  small.max_disk_bytes = 2048;
  LeafMinter by_size(ca, small);
  for (int i = 0; i < 20; ++i) by_size.get("s" + std::to_string(i) + ".example");
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(tmp.path / "small")) bytes += fs::file_size(e.path());
  CHECK(bytes <= 2048);
  CHECK(by_size.stats().disk_bytes == bytes);
  CHECK(pem_files(tmp.path / "small") >= 2);
}

TEST_CASE("leaf: at start, expired files and a crash's temporary files are deleted, others left alone") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "ca");
  MinterOptions options;
  options.cache_dir = (tmp.path / "cache").string();
  {
    LeafMinter minter(ca, options);
    minter.get("old.example");
    minter.get("new.example");
  }
  const fs::path dir = tmp.path / "cache";
  set_age(dir / "old.example.pem", 7 * 86400);  // older than a leaf is usable (validity − renewal)
  replace_file((dir / ".x.example.pem.tmp-123-00000000000000ab").string(), "half", 0600);
  replace_file((dir / "README").string(), "the operator's", 0600);
  LeafMinter minter(ca, options);
  CHECK_FALSE(fs::exists(dir / "old.example.pem"));
  CHECK_FALSE(fs::exists(dir / ".x.example.pem.tmp-123-00000000000000ab"));
  CHECK(fs::exists(dir / "new.example.pem"));
  CHECK(fs::exists(dir / "README"));
  CHECK(minter.stats().disk_deleted == 2);
  CHECK(minter.stats().disk_files == 1);
}

TEST_CASE("leaf: may_mint refuses a new leaf, never one already cached") {
  TempDir tmp;
  auto ca = make_ca(tmp.path / "ca");
  MinterOptions options;
  options.cache_dir = (tmp.path / "cache").string();
  options.max_entries = 1;
  LeafMinter minter(ca, options);
  int asked = 0;
  auto refuse = [&] {
    ++asked;
    return false;
  };
  CHECK(minter.get("new.example", refuse) == nullptr);
  CHECK(asked == 1);
  CHECK_FALSE(fs::exists(tmp.path / "cache" / "new.example.pem"));
  CHECK(minter.stats().minted == 0);
  auto a = minter.get("a.example");                  // minted (no rule)
  CHECK(minter.get("a.example", refuse) == a);       // memory
  minter.get("b.example");                           // a leaves memory
  CHECK(minter.get("a.example", refuse) != nullptr);  // disk
  CHECK(asked == 1);
}
