#include "admin/profiles/apple_profile.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

#include "base/openssl_util.h"
#include "base/text.h"
#include "certs/x509_build.h"

namespace sekisho::profiles {
namespace {

// Namespace of sekisho's name-based UUIDs; fixed forever, or every installed profile would be
// duplicated on re-issue.
constexpr unsigned char kNamespace[16] = {0x6f, 0x1b, 0x2c, 0x9e, 0x5d, 0x4a, 0x4e, 0x8b,
                                          0x9a, 0x3f, 0x2c, 0x7d, 0x1e, 0x0b, 0x8a, 0x61};

std::string base64_lines(const std::string& bytes) {
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(n));
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += 64) out += "\t\t\t" + encoded.substr(i, 64) + "\n";
  return out;
}

// Reverse-DNS identifiers allow letters, digits, '-' and '.'; anything else in a device name
// (spaces, Japanese) becomes '-'.
std::string identifier_part(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (std::isalnum(c) || c == '-') ? static_cast<char>(c) : '-';
  return out.empty() ? "-" : out;
}

std::string reverse_dns(const std::string& name) {
  std::vector<std::string> labels;
  size_t start = 0;
  for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1)
    labels.push_back(name.substr(start, dot - start));
  labels.push_back(name.substr(start));
  std::string out;
  for (auto it = labels.rbegin(); it != labels.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
  return out;
}

class Dict {
 public:
  explicit Dict(int indent) : pad_(static_cast<size_t>(indent), '\t') {}
  Dict& string(const char* key, const std::string& value) {
    return raw(key, "<string>" + base::escape_markup(value) + "</string>");
  }
  Dict& integer(const char* key, int value) { return raw(key, "<integer>" + std::to_string(value) + "</integer>"); }
  Dict& boolean(const char* key, bool value) { return raw(key, value ? "<true/>" : "<false/>"); }
  Dict& raw(const char* key, const std::string& value) { return block(key, pad_ + "\t" + value + "\n"); }
  // `lines`: a value already indented one level deeper than this dict's keys, ending in '\n'.
  Dict& block(const char* key, const std::string& lines) {
    body_ += pad_ + "\t<key>" + std::string(key) + "</key>\n" + lines;
    return *this;
  }
  std::string str() const { return pad_ + "<dict>\n" + body_ + pad_ + "</dict>\n"; }

 private:
  std::string pad_;
  std::string body_;
};

}  // namespace

std::string name_uuid(const std::string& name) {
  std::string input(reinterpret_cast<const char*>(kNamespace), sizeof kNamespace);
  input += name;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += base::kHexUpper[digest[i] >> 4];
    out += base::kHexUpper[digest[i] & 15];
  }
  return out;
}

std::string apple_profile_xml(const AppleProfileInput& in) {
  const std::string id_base =
      reverse_dns(in.public_name) + ".sekisho." + identifier_part(in.tenant_id) + "." + identifier_part(in.device_name);
  const std::string uuid_base = in.public_name + "/" + in.tenant_id + "/" + in.device_name;
  const std::string tenant = in.tenant_name.empty() ? in.tenant_id : in.tenant_name;

  std::string payloads;
  Dict dns_settings(3);
  dns_settings.string("DNSProtocol", "HTTPS").string("ServerURL", in.server_url);
  Dict dns(2);
  dns.block("DNSSettings", dns_settings.str())
      .string("PayloadDescription", "DNS over HTTPS: " + in.server_url)
      .string("PayloadDisplayName", "DNS フィルタ / DNS filter (" + in.public_name + ")")
      .string("PayloadIdentifier", id_base + ".dns")
      .string("PayloadType", "com.apple.dnsSettings.managed")
      .string("PayloadUUID", name_uuid(uuid_base + "/dns"))
      .integer("PayloadVersion", 1);
  payloads += dns.str();
  if (!in.ca_cert_der.empty()) {
    Dict root(2);
    root.string("PayloadCertificateFileName", identifier_part(in.tenant_id) + "-inspection-ca.cer")
        .block("PayloadContent", "\t\t\t<data>\n" + base64_lines(in.ca_cert_der) + "\t\t\t</data>\n")
        .string("PayloadDescription",
                "ブロックページ表示用の証明書を信頼します。 Trusts the certificate of " + tenant + "'s block page.")
        .string("PayloadDisplayName", "検査用 CA / Inspection CA: " + in.ca_cert_name)
        .string("PayloadIdentifier", id_base + ".ca")
        .string("PayloadType", "com.apple.security.root")
        .string("PayloadUUID", name_uuid(uuid_base + "/ca"))
        .integer("PayloadVersion", 1);
    payloads += root.str();
  }

  Dict top(0);
  top.block("PayloadContent", "\t<array>\n" + payloads + "\t</array>\n")
      .string("PayloadDescription", tenant + " の DNS フィルタを端末「" + in.device_name + "」に設定します。 Sets up " +
                                        tenant + "'s DNS filtering on the device \"" + in.device_name + "\".")
      .string("PayloadDisplayName", "DNS フィルタ / DNS filter: " + tenant + " (" + in.device_name + ")")
      .string("PayloadIdentifier", id_base)
      .string("PayloadOrganization", tenant)
      .boolean("PayloadRemovalDisallowed", false)
      .string("PayloadType", "Configuration")
      .string("PayloadUUID", name_uuid(uuid_base))
      .integer("PayloadVersion", 1);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
         "<plist version=\"1.0\">\n" +
         top.str() + "</plist>\n";
}

std::string sign_profile(const std::string& data, const std::string& cert_pem_file, const std::string& key_pem_file) {
  using certs::fail;
  const std::string cert_pem = certs::read_file(cert_pem_file);
  base::X509Ptr cert = certs::cert_from_pem(cert_pem, cert_pem_file);
  base::PkeyPtr key = certs::key_from_pem(certs::read_file(key_pem_file), key_pem_file);
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    fail(key_pem_file + ": the key does not belong to the certificate in " + cert_pem_file);

  // Intermediate certificates after the signer's own go into the SignedData, so the device
  // can build the chain to a root it trusts.
  struct StackFree {
    void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
  base::BioPtr pem(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  if (!chain || !pem) fail("out of memory");
  for (bool first = true;; first = false) {
    X509* c = PEM_read_bio_X509(pem.get(), nullptr, nullptr, nullptr);
    if (!c) break;
    if (first) X509_free(c);  // the signer itself
    else sk_X509_push(chain.get(), c);
  }
  ERR_clear_error();  // the loop ends on "no start line"

  base::BioPtr in(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  // CMS_BINARY: the plist is signed byte for byte, with no MIME line-ending canonicalisation.
  CMS_ContentInfo* cms = CMS_sign(cert.get(), key.get(), chain.get(), in.get(), CMS_BINARY);
  if (!cms) fail("signing the profile with " + cert_pem_file);
  base::BioPtr out(BIO_new(BIO_s_mem()));
  const int ok = i2d_CMS_bio(out.get(), cms);
  CMS_ContentInfo_free(cms);
  if (ok != 1) fail("encoding the signed profile");
  char* bytes = nullptr;
  const long n = BIO_get_mem_data(out.get(), &bytes);
  return std::string(bytes, static_cast<size_t>(n));
}

}  // namespace sekisho::profiles
