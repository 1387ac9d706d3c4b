#include "policy/safe_search.h"

#include <array>
#include <cstring>
#include <string_view>

namespace sekisho::policy {
namespace {

constexpr uint8_t kGoogle[] = "\x0f" "forcesafesearch" "\x06" "google" "\x03" "com";
constexpr uint8_t kYoutube[] = "\x08" "restrict" "\x07" "youtube" "\x03" "com";
constexpr uint8_t kBing[] = "\x06" "strict" "\x04" "bing" "\x03" "com";
constexpr uint8_t kDuckDuckGo[] = "\x04" "safe" "\x0a" "duckduckgo" "\x03" "com";

// sizeof includes the terminating NUL of the literal, which is the root label.
template <size_t N>
constexpr std::span<const uint8_t> wire(const uint8_t (&name)[N]) {
  return {name, N};
}

struct Exact {
  std::string_view name;  // presentation form
  std::span<const uint8_t> target;
};

constexpr std::array<Exact, 10> kExact = {{
    {"www.youtube.com", wire(kYoutube)},
    {"m.youtube.com", wire(kYoutube)},
    {"youtubei.googleapis.com", wire(kYoutube)},
    {"youtube.googleapis.com", wire(kYoutube)},
    {"www.youtube-nocookie.com", wire(kYoutube)},
    {"www.bing.com", wire(kBing)},
    {"bing.com", wire(kBing)},
    {"duckduckgo.com", wire(kDuckDuckGo)},
    {"www.duckduckgo.com", wire(kDuckDuckGo)},
    {"start.duckduckgo.com", wire(kDuckDuckGo)},
}};

// Splits a wire name into at most 8 labels; false when longer.
struct Labels {
  std::array<std::string_view, 8> label;
  size_t count = 0;
};

bool split(std::span<const uint8_t> name, Labels& out) {
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    if (out.count == out.label.size()) return false;
    const uint8_t len = name[pos];
    if (pos + 1 + len > name.size()) return false;
    out.label[out.count++] = std::string_view(reinterpret_cast<const char*>(name.data() + pos + 1), len);
    pos += 1 + len;
  }
  return true;
}

bool equals_presentation(const Labels& l, std::string_view text) {
  size_t start = 0;
  for (size_t i = 0; i < l.count; ++i) {
    size_t dot = text.find('.', start);
    std::string_view part = text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part != l.label[i]) return false;
    if (dot == std::string_view::npos) return i + 1 == l.count;
    start = dot + 1;
  }
  return false;
}

}  // namespace

std::span<const uint8_t> safe_search_target(std::span<const uint8_t> qname) {
  Labels l;
  if (!split(qname, l) || l.count < 2) return {};
  for (const Exact& e : kExact)
    if (equals_presentation(l, e.name)) return e.target;
  // Google's country sites: [www.]google.<tld> or [www.]google.<sld>.<tld> (google.co.jp).
  size_t first = l.label[0] == "www" ? 1 : 0;
  const size_t rest = l.count - first - 1;
  if (l.count > first && l.label[first] == "google" && (rest == 1 || rest == 2)) {
    if (rest == 2 && !(l.label[first + 1] == "co" || l.label[first + 1] == "com")) return {};
    return wire(kGoogle);
  }
  return {};
}

}  // namespace sekisho::policy
