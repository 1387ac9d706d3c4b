// tests/unit/policy/key_format_test.cc — reversed-label keys and name normalisation.
#include <doctest/doctest.h>

#include <string>
#include <vector>

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

// make_name_key works 8 bytes at a time (SWAR): check it against a plain reference on random
// names (every byte value, dots anywhere, labels across word boundaries).
TEST_CASE("key format: make_name_key equals a byte-by-byte reference") {
  auto reference = [](std::string_view name) -> std::string {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > kMaxNameLen) return {};
    std::vector<std::string> labels;
    size_t start = 0;
    while (true) {
      size_t dot = name.find('.', start);
      std::string label(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
      if (label.empty() || label.size() > kMaxLabelLen) return {};
      for (char& c : label)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      labels.push_back(label);
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    std::string key;
    for (size_t i = labels.size(); i-- > 0;) key += (key.empty() ? "" : ".") + labels[i];
    return key;
  };
  for (int c = 0; c < 256; ++c) {
    std::string name(9, static_cast<char>(c));
    std::string want = reference(name);
    char buf[kMaxKeyLen];
    size_t n = make_name_key(name, buf);
    CHECK(std::string(buf, n) == want);
  }
  uint64_t seed = 12345;
  auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; };
  const char alphabet[] = "aZ.Q-_09.x.M@[`{\x80\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string name;
    size_t len = next() % 70;
    if (i % 100 == 0) len = 240 + next() % 20;
    for (size_t j = 0; j < len; ++j) name += alphabet[next() % (sizeof alphabet - 1)];
    if (i % 3 == 0) {  // mostly valid shapes: labels of 1..70 bytes
      name.clear();
      size_t labels = 1 + next() % 6;
      for (size_t l = 0; l < labels; ++l) {
        if (l) name += '.';
        size_t ll = 1 + next() % (i % 30 == 0 ? 70 : 12);
        for (size_t j = 0; j < ll; ++j) name += "AbCxYz09-_"[next() % 10];
      }
    }
    char buf[kMaxKeyLen];
    size_t n = make_name_key(name, buf);
    INFO("name " << name);
    CHECK(std::string(buf, n) == reference(name));
  }
}
