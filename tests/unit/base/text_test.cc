#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "base/text.h"

using namespace sekisho::base;

TEST_SUITE("base.text") {

TEST_CASE("hex_value: both cases, and -1 for anything else") {
  CHECK(hex_value('0') == 0);
  CHECK(hex_value('9') == 9);
  CHECK(hex_value('a') == 10);
  CHECK(hex_value('F') == 15);
  for (char c : std::string("gG/:@`% \0x", 10)) CHECK(hex_value(c) == -1);
}

TEST_CASE("ASCII case folding leaves every other byte alone") {
  CHECK(ascii_lower("WWW.Example.COM") == "www.example.com");
  CHECK(ascii_lower("\xC3\x89T\xC3\x89") == "\xC3\x89t\xC3\x89");  // only the T: UTF-8 bytes are kept
  CHECK(ascii_lower(uint8_t{'Q'}) == uint8_t{'q'});  // wire bytes
  CHECK(ascii_lower(uint8_t{0xC9}) == uint8_t{0xC9});
  CHECK(equals_ignoring_case("Application/DNS-Message", "application/dns-message"));
  CHECK_FALSE(equals_ignoring_case("application/dns-message", "application/dns-messages"));
  CHECK_FALSE(equals_ignoring_case("a@", "a`"));  // '@' | 0x20 is '`': not a letter, not folded
}

TEST_CASE("trim: blanks at both ends only") {
  CHECK(trim("  a b\t") == "a b");
  CHECK(trim(" \t ") == "");
  CHECK(trim("x\r") == "x\r");  // CR is not HTTP whitespace
  CHECK(trim("\r x \r", " \t\r") == "x");
}

TEST_CASE("for_each_word: the runs between blanks, in order") {
  auto words = [](std::string_view s, std::string_view blanks = " \t") {
    std::vector<std::string> out;
    for_each_word(s, [&](std::string_view w) { out.emplace_back(w); }, blanks);
    return out;
  };
  CHECK(words("0.0.0.0  a.example\tb.example ") == std::vector<std::string>{"0.0.0.0", "a.example", "b.example"});
  CHECK(words("").empty());
  CHECK(words(" \t ").empty());
  CHECK(words("black\r", " \t\r") == std::vector<std::string>{"black"});
  CHECK(words("black\r") == std::vector<std::string>{"black\r"});
}

TEST_CASE("hex_encode: two lower-case digits per byte") {
  CHECK(hex_encode("") == "");
  CHECK(hex_encode(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
}

TEST_CASE("escape_markup: the five characters markup gives meaning to, nothing else") {
  CHECK(escape_markup(R"(<a href="x">'&'</a>)") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  CHECK(escape_markup("プロファイル 1") == "プロファイル 1");  // UTF-8 passes through
}

TEST_CASE("errno_text: what, then the system's reason") {
  CHECK(errno_text("cannot open /x", ENOENT) == "cannot open /x: No such file or directory");
}

TEST_CASE("printable: control bytes escaped, everything else kept") {
  CHECK(printable("plain.example") == "plain.example");
  CHECK(printable("\x1b[2Jx\r\n\t\x7f") == "\\x1b[2Jx\\x0d\\x0a\\x09\\x7f");
  CHECK(printable(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(printable("日本語.example") == "日本語.example");
}

}
