#include "admin/api/auth.h"

#include "admin/api/token.h"

namespace sekisho::admin {

// Only a presented token that is wrong counts, per source address. A request without one (a
// cross-origin GET from any web page carries none) is refused but counts for nothing, so it can
// lock no one out; and a valid token always works, even from a source over its limit, so the
// operator is never locked out by whoever shares their address. Tokens are `sk_` + 256 random
// bits, so the limit is not what stops guessing (no online guesser gets near one): it tells a
// guesser, or a script with a revoked token, to back off (429, Retry-After).
Authenticator::Result Authenticator::check(std::string_view authorization, const std::string& source,
                                           const std::vector<config::AdminTokenSettings>& tokens, int64_t now_s) {
  Result result;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() || authorization.substr(0, kScheme.size()) != kScheme) {
    result.outcome = authorization.empty() ? Outcome::missing : Outcome::invalid;
    return result;
  }
  const std::string digest = sha256_hex(authorization.substr(kScheme.size()));
  bool matched = false;
  for (const auto& t : tokens) {
    if (constant_time_equal(digest, t.sha256) && !matched) {
      matched = true;
      result.principal = Principal{t.name, t.role, t.tenant};
    }
  }
  if (matched) {
    result.outcome = Outcome::ok;
    return result;
  }
  result.outcome = Outcome::invalid;
  auto it = failures_.find(source);
  if (it != failures_.end() && now_s - it->second.window_start >= limits_.window_s) {
    failures_.erase(it);
    it = failures_.end();
  }
  if (it != failures_.end() && it->second.count >= limits_.max_failures) {
    result.outcome = Outcome::limited;
    result.retry_after_s = it->second.window_start + limits_.window_s - now_s;
    return result;
  }
  if (it == failures_.end()) {
    if (failures_.size() >= limits_.max_sources) {
      // Forget expired windows first; if every entry is live, forget all rather than grow.
      for (auto f = failures_.begin(); f != failures_.end();)
        f = now_s - f->second.window_start >= limits_.window_s ? failures_.erase(f) : std::next(f);
      if (failures_.size() >= limits_.max_sources) failures_.clear();
    }
    it = failures_.emplace(source, Failures{now_s, 0}).first;
  }
  ++it->second.count;
  return result;
}

}  // namespace sekisho::admin
