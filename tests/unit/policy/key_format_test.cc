// tests/unit/policy/key_format_test.cc — reversed-label keys and name normalisation.
#include <doctest/doctest.h>

#include <string>

#include "policy/import/idna.h"
#include "policy/store/key_format.h"

using namespace sekisho::policy;

namespace {
std::string key(std::string_view name) {
  char buf[kMaxKeyLen];
  return std::string(buf, make_name_key(name, buf));
}
std::string norm(std::string_view in) {
  std::string out, reason;
  return normalize_name(in, out, reason) ? out : "ERR:" + reason;
}
}  // namespace

TEST_CASE("name keys reverse labels, fold case and ignore the trailing dot") {
  CHECK(key("ads.example.com") == "com.example.ads");
  CHECK(key("Ads.Example.COM.") == "com.example.ads");
  CHECK(key("com") == "com");
  CHECK(key("") == "");
  CHECK(key(".") == "");
  CHECK(key("a..b") == "");
  CHECK(key(".a") == "");
  CHECK(key(std::string(64, 'a') + ".com") == "");
  CHECK(key(std::string(63, 'a') + ".com") == "com." + std::string(63, 'a'));
  CHECK(key_to_name("com.example.ads") == "ads.example.com");
}

TEST_CASE("wire-format names give the same keys") {
  const uint8_t wire[] = {3, 'W', 'w', 'W', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
  char buf[kMaxKeyLen];
  size_t n = make_wire_key(wire, buf);
  CHECK(std::string(buf, n) == "com.example.www");
  const uint8_t root[] = {0};
  CHECK(make_wire_key(root, buf) == 0);
  const uint8_t truncated[] = {3, 'w', 'w'};
  CHECK(make_wire_key(truncated, buf) == 0);
}

TEST_CASE("IPv4 literals are recognised") {
  CHECK(is_ipv4_literal("178.128.25.172"));
  CHECK(is_ipv4_literal("0.0.0.0"));
  CHECK_FALSE(is_ipv4_literal("256.1.1.1"));
  CHECK_FALSE(is_ipv4_literal("1.2.3"));
  CHECK_FALSE(is_ipv4_literal("1.2.3.4.5"));
  CHECK_FALSE(is_ipv4_literal("01.2.3.4"));
  CHECK_FALSE(is_ipv4_literal("1.2.3.com"));
  CHECK(key_is_ipv4(key("1.2.3.4")));
  CHECK_FALSE(key_is_ipv4(key("4.example.com")));
}

TEST_CASE("normalisation: case, dots, IDN, validation") {
  CHECK(norm("Example.COM.") == "example.com");
  CHECK(norm("日本語.jp") == "xn--wgv71a119e.jp");
  CHECK(norm("xn--wgv71a119e.jp") == "xn--wgv71a119e.jp");
  CHECK(norm("ＥＸＡＭＰＬＥ.com") == "example.com");  // UTS #46 maps full-width letters
  CHECK(norm("faß.de") == "xn--fa-hia.de");         // non-transitional: ß kept
  CHECK(norm("_video-bagarre.com") == "_video-bagarre.com");
  CHECK(norm("a..b").rfind("ERR:empty label", 0) == 0);
  CHECK(norm("").rfind("ERR:", 0) == 0);
  CHECK(norm("bad/name.com") == "ERR:bad character '/'");
  CHECK(norm(std::string(64, 'a') + ".com") == "ERR:label over 63 bytes");
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";
  long_name += "com";
  CHECK(norm(long_name) == "ERR:name over 253 bytes");
}
