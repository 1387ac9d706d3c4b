// Who is calling: a Bearer token checked against the configured SHA-256 digests, and a limit
// on wrong tokens presented per source address (requests without a token never count, and a
// valid token always works: auth.cc says why).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/keyed_hash.h"
#include "config/settings.h"

namespace sekisho::admin {

struct Principal {
  std::string name;  // the token's name, for the audit log
  config::AdminRole role = config::AdminRole::operator_role;
  std::string tenant;  // tenant_admin only

  bool is_operator() const { return role == config::AdminRole::operator_role; }
  // Everything a tenant-admin may not see answers 404, as if it did not exist.
  bool may_see(const std::string& tenant_id) const { return is_operator() || tenant == tenant_id; }
};

class Authenticator {
 public:
  struct Limits {
    uint32_t max_failures = 10;    // wrong tokens per source within the window; more wrong ones → 429
    int64_t window_s = 60;
    size_t max_sources = 10000;    // bounded memory under a spray from many addresses
  };

  Authenticator() = default;
  explicit Authenticator(Limits limits) : limits_(limits) {}

  enum class Outcome { ok, missing, invalid, limited };
  struct Result {
    Outcome outcome = Outcome::missing;
    Principal principal;
    int64_t retry_after_s = 0;  // limited
  };

  // `authorization` is the Authorization header value; `source` the client address (no port).
  // Every token is compared (in constant time) so the time taken does not say which matched.
  Result check(std::string_view authorization, const std::string& source,
               const std::vector<config::AdminTokenSettings>& tokens, int64_t now_s);

 private:
  struct Failures {
    int64_t window_start = 0;
    uint32_t count = 0;
  };
  Limits limits_;
  std::unordered_map<std::string, Failures, base::KeyedStringHash> failures_;  // keyed: by client address
};

}  // namespace sekisho::admin
