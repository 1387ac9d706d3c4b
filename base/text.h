// Small text helpers every layer uses: hexadecimal digits, escaping for markup, and the text of
// a failed system call. One definition each, so that, say, the admin API's percent-decoding and
// the HTTP chunk-size parser agree on what a hex digit is.
#pragma once

#include <cstdint>
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

// ASCII case folding: protocol text (header names, SNI, DNS names as typed) is ASCII, and the
// locale must not change what matches.
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr uint8_t ascii_lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c - 'A' + 'a') : c; }
std::string ascii_lower(std::string_view s);
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// `s` without the characters of `blanks` at either end (by default spaces and tabs, HTTP's OWS).
constexpr std::string_view trim(std::string_view s, std::string_view blanks = " \t") {
  while (!s.empty() && blanks.find(s.front()) != std::string_view::npos) s.remove_prefix(1);
  while (!s.empty() && blanks.find(s.back()) != std::string_view::npos) s.remove_suffix(1);
  return s;
}

// Calls f(word) for each run of characters between `blanks` in `s`, in order (hosts-file
// fields, UT1 usage words).
template <typename F>
constexpr void for_each_word(std::string_view s, F&& f, std::string_view blanks = " \t") {
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = s.find_first_not_of(blanks, pos);
    if (start == std::string_view::npos) return;
    size_t end = s.find_first_of(blanks, start);
    if (end == std::string_view::npos) end = s.size();
    f(s.substr(start, end - start));
    pos = end;
  }
}

// Two lower-case hex digits per byte ("\x01\xab" → "01ab").
std::string hex_encode(std::string_view bytes);

// `text` safe to put in a message on a terminal or in a log: control bytes (C0, DEL) as \xNN,
// so that a feed's or a file's bytes cannot move the cursor, clear the screen or forge lines
// (ESC sequences, CR); other bytes as they are (UTF-8 names stay readable).
std::string printable(std::string_view text);

// & < > " ' → &amp; &lt; &gt; &quot; &#39;: safe as XML or HTML text and inside a quoted attribute
// (the block page's templates, the Apple configuration profile's plist strings).
std::string escape_markup(std::string_view text);

// "what: strerror(err)", e.g. errno_text("cannot create " + path, errno).
std::string errno_text(std::string_view what, int err);

}  // namespace sekisho::base
