// policy/store/key_format.cc — reversed-label key construction (hot path: no allocation).
#include "policy/store/key_format.h"

#include <cstring>

#include "base/text.h"

namespace sekisho::policy {
namespace {
inline void copy_lower(char* dst, const char* src, size_t len) {
  for (; len >= 8; len -= 8, src += 8, dst += 8) {
    const uint64_t w = swar::lower8(swar::load8(src));
    std::memcpy(dst, &w, 8);
  }
  for (size_t i = 0; i < len; ++i) dst[i] = base::ascii_lower(src[i]);
}
}  // namespace

size_t make_name_key(std::string_view name, char* out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  const size_t n = name.size();
  if (n == 0 || n > kMaxNameLen) return 0;
  // One forward pass: the label at name[s, e) lands at out[n - e, n - s) (labels keep their
  // orientation, their order is mirrored) and the dot after it at out[n - e - 1]. Dots are
  // found 8 bytes at a time.
  const char* p = name.data();
  size_t s = 0;
  auto emit = [&](size_t e) {
    const size_t len = e - s;
    if (len == 0 || len > kMaxLabelLen) return false;  // empty label (leading/double dot), too long
    copy_lower(out + (n - e), p + s, len);
    if (e < n) out[n - e - 1] = '.';
    s = e + 1;
    return true;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (uint64_t m = swar::byte_eq(swar::load8(p + i), '.'); m; m &= m - 1)
      if (!emit(i + static_cast<size_t>(__builtin_ctzll(m)) / 8)) return 0;
  for (; i < n; ++i)
    if (p[i] == '.' && !emit(i)) return 0;
  return emit(n) ? n : 0;
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
    for (uint8_t j = 0; j < label[0]; ++j) out[w + j] = base::ascii_lower(static_cast<char>(label[1 + j]));
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
