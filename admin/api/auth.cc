#include "admin/api/auth.h"

#include "admin/api/token.h"

namespace sekisho::admin {

Authenticator::Result Authenticator::check(std::string_view authorization, const std::string& source,
                                           const std::vector<config::AdminTokenSettings>& tokens, int64_t now_s) {
  Result result;
  auto it = failures_.find(source);
  if (it != failures_.end()) {
    if (now_s - it->second.window_start >= limits_.window_s) {
      failures_.erase(it);
      it = failures_.end();
    } else if (it->second.count >= limits_.max_failures) {
      // A correct token does not lift the block early: otherwise a guesser keeps going at
      // full speed and only has to be right once.
      result.outcome = Outcome::limited;
      result.retry_after_s = it->second.window_start + limits_.window_s - now_s;
      return result;
    }
  }
  constexpr std::string_view kScheme = "Bearer ";
  bool matched = false;
  if (authorization.size() > kScheme.size() && authorization.substr(0, kScheme.size()) == kScheme) {
    const std::string digest = sha256_hex(authorization.substr(kScheme.size()));
    for (const auto& t : tokens) {
      if (constant_time_equal(digest, t.sha256) && !matched) {
        matched = true;
        result.principal = Principal{t.name, t.role, t.tenant};
      }
    }
    result.outcome = matched ? Outcome::ok : Outcome::invalid;
  } else {
    result.outcome = authorization.empty() ? Outcome::missing : Outcome::invalid;
  }
  if (matched) return result;
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
