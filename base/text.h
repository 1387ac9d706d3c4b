// Small text helpers every layer uses: hexadecimal digits, escaping for markup, and the text of
// a failed system call. One definition each, so that, say, the admin API's percent-decoding and
// the HTTP chunk-size parser agree on what a hex digit is.
#pragma once

#include <string>
#include <string_view>

namespace sekisho::base {

inline constexpr char kHexLower[] = "0123456789abcdef";
inline constexpr char kHexUpper[] = "0123456789ABCDEF";

// The value of one hexadecimal digit of either case, or -1 for any other character.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Two lower-case hex digits per byte ("\x01\xab" → "01ab").
std::string hex_encode(std::string_view bytes);

// & < > " ' → &amp; &lt; &gt; &quot; &#39;: safe as XML or HTML text and inside a quoted attribute
// (the block page's templates, the Apple configuration profile's plist strings).
std::string escape_markup(std::string_view text);

// "what: strerror(err)", e.g. errno_text("cannot create " + path, errno).
std::string errno_text(std::string_view what, int err);

}  // namespace sekisho::base
