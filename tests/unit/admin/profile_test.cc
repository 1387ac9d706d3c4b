// admin/profiles: endpoints handed to devices, the .mobileconfig plist, and its CMS signature
// verified with OpenSSL's own CMS_verify.
#include <doctest/doctest.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>

#include "admin/profiles/apple_profile.h"
#include "admin/profiles/device_endpoints.h"
#include "certs/x509_build.h"

using namespace sekisho;

namespace {

config::ServerSettings server_with(const char* doh, const char* public_name) {
  config::ServerSettings s;
  s.public_name = public_name;
  if (doh) {
    std::string why;
    s.doh_listen.push_back(*net::parse_socket_address(doh, 443, why));
  }
  return s;
}

// A self-signed signing certificate, written as PEM files the way an operator would give them.
struct Signer {
  std::string dir;
  std::string cert_file, key_file;
  base::X509Ptr cert{X509_new()};
  base::PkeyPtr key = certs::make_ec_key();
  explicit Signer(const char* cn) {
    char tmpl[] = "/tmp/sekisho-profile-XXXXXX";
    dir = mkdtemp(tmpl);
    X509_set_version(cert.get(), 2);
    certs::set_random_serial(cert.get());
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    certs::add_extension(cert.get(), nullptr, NID_basic_constraints, "critical,CA:TRUE");
    certs::add_extension(cert.get(), nullptr, NID_key_usage, "critical,digitalSignature,keyCertSign");
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    cert_file = dir + "/sign.pem";
    key_file = dir + "/sign.key";
    std::ofstream(cert_file) << certs::to_pem(cert.get());
    std::ofstream(key_file) << certs::key_to_pem(key.get());
  }
  ~Signer() { std::filesystem::remove_all(dir); }
};

// The value of the <string> after <key>key</key>, searching from `from`.
std::string string_after(const std::string& xml, const std::string& key, size_t from = 0) {
  size_t k = xml.find("<key>" + key + "</key>", from);
  if (k == std::string::npos) return "(missing)";
  size_t open = xml.find("<string>", k);
  size_t close = xml.find("</string>", open);
  return xml.substr(open + 8, close - open - 8);
}

}  // namespace

TEST_CASE("device endpoints: the DoH port appears unless 443; nothing without public_name") {
  CHECK(profiles::doh_url(server_with("127.0.0.1:8443", "dns.example.net"), "k7q2m9x4p8") ==
        "https://dns.example.net:8443/dns-query/k7q2m9x4p8");
  CHECK(profiles::doh_url(server_with("[::]:443", "dns.example.net"), "k7q2m9x4p8") ==
        "https://dns.example.net/dns-query/k7q2m9x4p8");
  CHECK(profiles::doh_url(server_with(nullptr, "dns.example.net"), "k7q2m9x4p8") ==
        "https://dns.example.net/dns-query/k7q2m9x4p8");
  CHECK(profiles::doh_url(server_with("127.0.0.1:8443", ""), "k7q2m9x4p8").empty());
  CHECK(profiles::dot_hostname(server_with(nullptr, "dns.example.net"), "k7q2m9x4p8") == "k7q2m9x4p8.dns.example.net");
}

TEST_CASE("name_uuid: RFC 4122 version 5, same as Python's uuid5 with sekisho's namespace") {
  // python3: uuid.uuid5(UUID('6f1b2c9e-5d4a-4e8b-9a3f-2c7d1e0b8a61'), 'dns.example.net/acme/taro-iphone')
  CHECK(profiles::name_uuid("dns.example.net/acme/taro-iphone") == "1139E96A-0878-557C-BF58-519857DB2999");
  CHECK(profiles::name_uuid("dns.example.net/acme/hana") != profiles::name_uuid("dns.example.net/acme/taro-iphone"));
}

TEST_CASE("apple profile: DoH payload with the token, stable identity, optional root CA payload") {
  profiles::AppleProfileInput in;
  in.public_name = "dns.example.net";
  in.server_url = "https://dns.example.net:8443/dns-query/k7q2m9x4p8";
  in.tenant_id = "acme";
  in.tenant_name = "ACME <株式会社> & Co";
  in.device_name = "taro iphone";
  const std::string xml = profiles::apple_profile_xml(in);
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0) == 0);
  CHECK(string_after(xml, "DNSProtocol") == "HTTPS");
  CHECK(string_after(xml, "ServerURL") == in.server_url);
  CHECK(string_after(xml, "PayloadType") == "com.apple.dnsSettings.managed");
  CHECK(string_after(xml, "PayloadIdentifier") == "net.example.dns.sekisho.acme.taro-iphone.dns");
  CHECK(xml.find("ACME &lt;株式会社&gt; &amp; Co") != std::string::npos);
  CHECK(xml.find("<株式会社>") == std::string::npos);
  CHECK(xml.find("com.apple.security.root") == std::string::npos);
  CHECK(profiles::apple_profile_xml(in) == xml);  // deterministic: re-issue replaces, not duplicates

  Signer ca("ACME Inspection CA");
  in.ca_cert_der = certs::to_der(ca.cert.get());
  in.ca_cert_name = "ACME Inspection CA";
  const std::string with_ca = profiles::apple_profile_xml(in);
  const size_t root = with_ca.find("<string>com.apple.security.root</string>");
  REQUIRE(root != std::string::npos);
  // The <data> holds the certificate's DER, base64 in lines.
  size_t open = with_ca.find("<data>");
  size_t close = with_ca.find("</data>");
  REQUIRE(open < close);
  std::string b64;
  for (char c : with_ca.substr(open + 6, close - open - 6))
    if (!isspace(static_cast<unsigned char>(c))) b64 += c;
  std::string der(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  REQUIRE(n >= 0);
  der.resize(static_cast<size_t>(n) - std::count(b64.end() - 2, b64.end(), '='));
  CHECK(der == in.ca_cert_der);
}

TEST_CASE("apple profile: CMS signature verifies and carries the profile unchanged") {
  Signer signer("sekisho profile signer");
  const std::string data = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>\r\n";
  const std::string der = profiles::sign_profile(data, signer.cert_file, signer.key_file);

  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  CMS_ContentInfo* cms = d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE(cms != nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, signer.cert.get());
  base::BioPtr out(BIO_new(BIO_s_mem()));
  CHECK(CMS_verify(cms, nullptr, store, nullptr, out.get(), CMS_BINARY) == 1);
  char* bytes = nullptr;
  long len = BIO_get_mem_data(out.get(), &bytes);
  CHECK(std::string(bytes, static_cast<size_t>(len)) == data);  // CMS_BINARY: \r\n untouched

  // A different trust root must not verify it.
  Signer other("someone else");
  X509_STORE* wrong = X509_STORE_new();
  X509_STORE_add_cert(wrong, other.cert.get());
  CHECK(CMS_verify(cms, nullptr, wrong, nullptr, nullptr, CMS_BINARY) != 1);
  ERR_clear_error();
  X509_STORE_free(wrong);
  X509_STORE_free(store);
  CMS_ContentInfo_free(cms);

  CHECK_THROWS_WITH_AS(profiles::sign_profile(data, signer.cert_file, other.key_file),
                       doctest::Contains("the key does not belong to the certificate"), certs::CertError);
  CHECK_THROWS_AS(profiles::sign_profile(data, signer.dir + "/missing.pem", signer.key_file), certs::CertError);
}
