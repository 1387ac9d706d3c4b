// base64url (RFC 4648 §5) without padding: the DoH GET `dns` parameter (RFC 8484 §4.1) and the
// admin API's tokens; standard base64 below. Decoding is strict: a character outside the alphabet, a '=' pad, an
// impossible length or non-zero bits after the last byte is an error (the DoH server answers
// 400), never silently skipped, so every byte string has exactly one accepted encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sekisho::base {

// Decodes into `out` (replacing it). False on any invalid input.
bool base64url_decode(std::string_view in, std::string& out);
std::string base64url_encode(std::string_view in);

// Standard base64 (RFC 4648 §4) with its '=' padding, as strict as the above: SPKI pins
// (RFC 7469 §2.4) in the configuration.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace sekisho::base
