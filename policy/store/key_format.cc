// policy/store/key_format.cc — reversed-label key construction (hot path: no allocation).
#include "policy/store/key_format.h"

#include <cstring>

namespace sekisho::policy {
namespace {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

}  // namespace

size_t make_name_key(std::string_view name, char* out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxNameLen) return 0;
  size_t w = 0;
  size_t end = name.size();
  // Walk labels from the right; copy each one lowercased.
  while (true) {
    size_t dot = name.rfind('.', end - 1);
    size_t start = (dot == std::string_view::npos) ? 0 : dot + 1;
    size_t len = end - start;
    if (len == 0 || len > kMaxLabelLen) return 0;
    if (w != 0) out[w++] = '.';
    for (size_t i = 0; i < len; ++i) out[w + i] = lower(name[start + i]);
    w += len;
    if (dot == std::string_view::npos) break;
    end = dot;
    if (end == 0) return 0;  // leading dot: empty first label
  }
  return w;
}

size_t make_wire_key(std::span<const uint8_t> wire, char* out) {
  uint8_t offsets[128];
  size_t n = 0, pos = 0, total = 0;
  while (pos < wire.size()) {
    uint8_t len = wire[pos];
    if (len == 0) break;
    if (len > kMaxLabelLen || n == 128 || pos + 1 + len > wire.size()) return 0;
    offsets[n++] = static_cast<uint8_t>(pos);
    total += len + 1;
    pos += 1 + len;
  }
  if (pos >= wire.size() || n == 0 || total - 1 > kMaxNameLen) return 0;
  size_t w = 0;
  for (size_t i = n; i-- > 0;) {
    const uint8_t* label = wire.data() + offsets[i];
    if (w != 0) out[w++] = '.';
    for (uint8_t j = 0; j < label[0]; ++j) out[w + j] = lower(static_cast<char>(label[1 + j]));
    w += label[0];
  }
  return w;
}

std::string key_to_name(std::string_view key) {
  char buf[kMaxKeyLen];
  size_t n = key.size() <= kMaxNameLen ? make_name_key(key, buf) : 0;
  return n ? std::string(buf, n) : std::string(key);
}

bool is_ipv4_literal(std::string_view name) {
  int parts = 0;
  size_t i = 0;
  while (i <= name.size()) {
    size_t start = i;
    unsigned value = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
      value = value * 10 + static_cast<unsigned>(name[i] - '0');
      if (value > 255 || i - start >= 3) return false;
      ++i;
    }
    if (i == start) return false;
    // No leading zeros ("01" is ambiguous: octal in inet_aton).
    if (i - start > 1 && name[start] == '0') return false;
    ++parts;
    if (i == name.size()) break;
    if (name[i] != '.') return false;
    ++i;
  }
  return parts == 4;
}

std::string make_url_key(std::string_view host_key, std::string_view path) {
  std::string key;
  key.reserve(host_key.size() + 1 + path.size());
  key.append(host_key);
  key.push_back('/');
  key.append(path);
  return key;
}

}  // namespace sekisho::policy
