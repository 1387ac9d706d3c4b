// policy/store/url_form.cc — the canonical URL form (see url_form.h for the rules and why).
#include "policy/store/url_form.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/text.h"
#include "policy/store/key_format.h"

namespace sekisho::policy::url {
namespace {

constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
constexpr bool is_sub_delim(unsigned char c) {
  return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
         c == ',' || c == ';' || c == '=';
}
// pchar of RFC 3986 §3.3 (without pct-encoded): what a path segment holds as itself.
constexpr bool is_pchar(unsigned char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@'; }
// Escapes the path keeps: decoding them would change where segments or the path end.
constexpr bool keeps_escaped_in_path(unsigned char c) {
  return c == '/' || c == '\\' || c == '?' || c == '#' || c == '%';
}

// The byte a valid "%XY" at in[i] stands for, or -1.
int escape_at(std::string_view in, size_t i) {
  if (i + 2 >= in.size()) return -1;
  const int h = base::hex_value(in[i + 1]), l = base::hex_value(in[i + 2]);
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

void write_escape(unsigned char c, char* out) {
  out[0] = '%';
  out[1] = base::kHexUpper[c >> 4];
  out[2] = base::kHexUpper[c & 15];
}

// Builds the canonical path one unit (a byte or an escape) at a time. Segments that do not fit
// are counted in `virt` instead of stored, so that `..` segments after them still resolve
// against the right stored segment.
struct PathBuilder {
  char* out;
  size_t cap;
  size_t w = 0;           // bytes stored
  size_t mark = 0;        // w before the current segment and its '/'
  bool sep_pending = false;
  bool skipping = false;  // the current segment did not fit
  size_t virt = 0;        // segments after the stored ones that did not fit
  size_t seg_len = 0;     // canonical bytes of the current segment
  bool all_dots = true;

  void put(const char* s, size_t n) {
    if (seg_len == 0 && virt == 0) {
      mark = w;
      sep_pending = w > 0;
    }
    seg_len += n;
    all_dots = all_dots && n == 1 && s[0] == '.';
    if (virt > 0 || skipping) return;
    if (w + n + (sep_pending ? 1 : 0) > cap) {
      skipping = true;
      w = mark;
      return;
    }
    if (sep_pending) out[w++] = '/', sep_pending = false;
    std::memcpy(out + w, s, n);
    w += n;
  }

  void end_segment() {
    if (seg_len == 0) return;  // an empty segment: repeated slashes are merged
    const bool dot = all_dots && seg_len == 1, dotdot = all_dots && seg_len == 2;
    if (dot || dotdot) {
      if (virt == 0) w = mark;
      skipping = false;
      if (dotdot) {
        if (virt > 0) {
          --virt;
        } else {  // §5.2.4: remove the last stored segment and its '/'
          while (w > 0 && out[w - 1] != '/') --w;
          if (w > 0) --w;
        }
      }
    } else if (skipping || virt > 0) {
      ++virt;
      skipping = false;
    }
    seg_len = 0;
    all_dots = true;
    sep_pending = false;
  }
};

}  // namespace

Parts split_target(std::string_view t) noexcept {
  Parts p;
  if (size_t h = t.find('#'); h != std::string_view::npos) t = t.substr(0, h);
  size_t q = t.find('?');
  p.path = t.substr(0, q);
  if (q != std::string_view::npos) {
    p.query = t.substr(q + 1);
    p.has_query = true;
  }
  return p;
}

Parts split(std::string_view s) noexcept {
  if (size_t h = s.find('#'); h != std::string_view::npos) s = s.substr(0, h);
  if (size_t sch = s.find("://"); sch != std::string_view::npos && sch < s.find_first_of("/\\?"))
    s.remove_prefix(sch + 3);
  const size_t end = s.find_first_of("/\\?");
  std::string_view auth = s.substr(0, end);
  Parts p = split_target(end == std::string_view::npos ? std::string_view{} : s.substr(end));
  if (size_t at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  if (!auth.empty() && auth.front() == '[') {
    size_t close = auth.find(']');
    auth = auth.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else if (size_t colon = auth.rfind(':'); colon != std::string_view::npos) {
    auth = auth.substr(0, colon);
  }
  p.host = auth;
  return p;
}

PathForm canonical_path(std::string_view in, char* out, size_t cap) noexcept {
  PathBuilder b{out, cap};
  char esc[3];
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '/' || c == '\\') {
      b.end_segment();
      continue;
    }
    if (c == '%') {
      const int d = escape_at(in, i);
      if (d < 0) {  // a lone '%' is the character '%'
        write_escape('%', esc);
        b.put(esc, 3);
        continue;
      }
      i += 2;
      c = static_cast<unsigned char>(d);
      if (keeps_escaped_in_path(c)) {
        write_escape(c, esc);
        b.put(esc, 3);
        continue;
      }
    }
    if (is_pchar(c)) {
      const char l = base::ascii_lower(static_cast<char>(c));
      b.put(&l, 1);
    } else {
      write_escape(c, esc);
      b.put(esc, 3);
    }
  }
  b.end_segment();
  return PathForm{b.w, b.virt > 0};
}

size_t canonical_param(std::string_view in, char* out, size_t cap) noexcept {
  size_t w = 0;
  auto put = [&](const char* s, size_t n) {
    if (w + n > cap) return false;
    std::memcpy(out + w, s, n);
    w += n;
    return true;
  };
  char esc[3];
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    bool ok;
    if (c == '%') {
      const int d = escape_at(in, i);
      if (d < 0) {
        write_escape('%', esc);
        ok = put(esc, 3);
      } else {
        i += 2;
        const char dc = static_cast<char>(d);
        if (is_unreserved(static_cast<unsigned char>(d))) {
          ok = put(&dc, 1);
        } else {
          write_escape(static_cast<unsigned char>(d), esc);
          ok = put(esc, 3);
        }
      }
    } else if (is_pchar(c) || c == '/' || c == '?') {  // RFC 3986 §3.4
      const char cc = static_cast<char>(c);
      ok = put(&cc, 1);
    } else {
      write_escape(c, esc);
      ok = put(esc, 3);
    }
    if (!ok) return 0;
  }
  return w;
}

bool key_of(std::string_view host_key, const Parts& p, std::string& key) {
  key.assign(host_key);
  key.push_back('/');
  if (key.size() >= kMaxUrlKeyLen) return false;
  char buf[kMaxUrlKeyLen];
  const PathForm f = canonical_path(p.path, buf, kMaxUrlKeyLen - key.size());
  if (f.truncated) return false;
  key.append(buf, f.len);
  std::vector<std::string> params;
  bool fits = true;
  for_each_param(p.query, [&](std::string_view raw) {
    const size_t m = canonical_param(raw, buf, sizeof buf);
    if (m == 0) fits = false;
    else params.emplace_back(buf, m);
  });
  std::sort(params.begin(), params.end());
  params.erase(std::unique(params.begin(), params.end()), params.end());
  for (size_t i = 0; i < params.size(); ++i) {
    key += i == 0 ? '?' : '&';
    key += params[i];
  }
  return fits && key.size() <= kMaxUrlKeyLen;
}

}  // namespace sekisho::policy::url
