// Admin API tokens: how they are made, hashed and compared. The YAML holds only SHA-256
// digests, so the comparison is between digests and runs in constant time.
#pragma once

#include <string>
#include <string_view>

#include "base/openssl_util.h"

namespace sekisho::admin {

// A fresh token: "sk_" + 43 characters of base64url (256 bits from the kernel's CSPRNG).
// Throws std::runtime_error when no randomness is available.
std::string new_token();

// How a token is stored and compared: 64 lower-case hex digits of its SHA-256.
using base::sha256_hex;

// Equal length strings compared without an early exit; different lengths are simply unequal
// (digests always have the same length, so this leaks nothing about a secret).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace sekisho::admin
