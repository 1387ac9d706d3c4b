// Apple configuration profiles (.mobileconfig) that point an iPhone, iPad or Mac at this
// server over DoH with the device's token, optionally trusting the tenant's inspection CA
// (for the block page / intercept server), optionally signed.
//
// Identity: PayloadIdentifier and every PayloadUUID are derived from public_name, tenant and
// device (name-based UUIDs, RFC 4122 §4.3 with SHA-1), so a re-issued profile (a new token
// after a revoke, a new CA) replaces the installed one instead of being added beside it.
#pragma once

#include <string>

namespace sekisho::profiles {

struct AppleProfileInput {
  std::string public_name;  // server.public_name
  std::string server_url;   // DoH URL with the token (device_endpoints.h)
  std::string tenant_id;
  std::string tenant_name;  // shown to the user, may be Japanese
  std::string device_name;
  std::string ca_cert_der;   // optional: com.apple.security.root payload with this certificate
  std::string ca_cert_name;  // its subject, for the payload's display name
};

// The profile as an XML property list (UTF-8).
std::string apple_profile_xml(const AppleProfileInput& in);

// A name-based UUID (version 5, RFC 4122 §4.3) in upper-case 8-4-4-4-12 form, as Apple writes them.
std::string name_uuid(const std::string& name);

// `data` signed as CMS SignedData (DER, content attached) with the PEM certificate (plus any
// chain certificates after it in the same file) and PEM key. What iOS shows as "Verified"
// when the chain leads to a trusted root. Throws certs::CertError naming the file and reason.
std::string sign_profile(const std::string& data, const std::string& cert_pem_file, const std::string& key_pem_file);

}  // namespace sekisho::profiles
