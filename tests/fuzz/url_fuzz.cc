// Fuzzes the one canonical URL form (policy/store/url_form.h) that importers, `sekisho db
// lookup` and sekisho-intercept's deep URL check share. The property that keeps a listed URL
// matched however a client spells it: the form is idempotent — the canonical path of a
// canonical path, and the canonical form of a canonical parameter, are themselves — and it
// never writes past the caller's buffer (canonical_path runs on the intercept's request path).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "policy/store/key_format.h"
#include "policy/store/url_form.h"

using namespace sekisho::policy;

namespace {

void idempotent_path(std::string_view path) {
  char once[kMaxUrlKeyLen], twice[kMaxUrlKeyLen];
  const url::PathForm a = url::canonical_path(path, once, sizeof once);
  if (a.len > sizeof once) std::abort();
  if (a.truncated) return;
  const url::PathForm b = url::canonical_path(std::string_view(once, a.len), twice, sizeof twice);
  if (b.truncated || b.len != a.len || std::memcmp(once, twice, a.len) != 0) std::abort();
}

void idempotent_param(std::string_view param) {
  char once[kMaxUrlKeyLen], twice[kMaxUrlKeyLen];
  const size_t a = url::canonical_param(param, once, sizeof once);
  if (a > sizeof once) std::abort();
  if (a == 0) return;
  const size_t b = url::canonical_param(std::string_view(once, a), twice, sizeof twice);
  if (b != a || std::memcmp(once, twice, a) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const url::Parts& p : {url::split(input), url::split_target(input)}) {
    idempotent_path(p.path);
    url::for_each_param(p.query, idempotent_param);
    std::string key;
    if (url::key_of("example.com", p, key) && (key.size() > kMaxUrlKeyLen || key.rfind("example.com/", 0) != 0))
      std::abort();
  }
  return 0;
}
