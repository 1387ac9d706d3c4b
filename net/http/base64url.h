// base64url (RFC 4648 §5) without padding, as RFC 8484 §4.1 uses for the DoH GET `dns`
// parameter. Decoding is strict: a character outside the alphabet, a '=' pad or an impossible
// length is an error (the DoH server answers 400), never silently skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sekisho::net::http {

// Decodes into `out` (replacing it). False on any invalid input.
bool base64url_decode(std::string_view in, std::string& out);
std::string base64url_encode(std::string_view in);

}  // namespace sekisho::net::http
