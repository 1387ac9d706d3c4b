#include <doctest/doctest.h>

#include <string>

#include "base/base64url.h"

using sekisho::base::base64url_decode;
using sekisho::base::base64url_encode;

TEST_SUITE("base.base64url") {

TEST_CASE("RFC 4648 test vectors without padding") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64url_encode(plain) == encoded);
    std::string out = "junk";
    REQUIRE(base64url_decode(encoded, out));
    CHECK(out == plain);
  }
}

TEST_CASE("the URL-safe alphabet: '-' and '_' instead of '+' and '/'") {
  const std::string bytes("\xfb\xff\xbf", 3);
  CHECK(base64url_encode(bytes) == "-_-_");
  std::string out;
  REQUIRE(base64url_decode("-_-_", out));
  CHECK(out == bytes);
  CHECK_FALSE(base64url_decode("+/+/", out));
}

TEST_CASE("the RFC 8484 example query decodes to a DNS message") {
  // RFC 8484 §4.1.1: www.example.com A, ID 0.
  std::string out;
  REQUIRE(base64url_decode("AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", out));
  REQUIRE(out.size() == 33);
  CHECK(out.substr(12, 4) == std::string("\x03www", 4));
}

TEST_CASE("rejected: padding, bad characters, impossible lengths, stray bits") {
  std::string out;
  CHECK_FALSE(base64url_decode("Zg==", out));   // padding is not sent in DoH
  CHECK_FALSE(base64url_decode("Zm9v Yg", out));
  CHECK_FALSE(base64url_decode("Zm9vY", out));  // 4n+1 characters cannot encode whole bytes
  CHECK_FALSE(base64url_decode("Zh", out));     // 'h' leaves non-zero bits after the last byte
  CHECK_FALSE(base64url_decode("%41", out));
}

}

TEST_SUITE("base.base64") {

TEST_CASE("standard base64 with padding: RFC 4648 vectors, '+' and '/'") {
  using sekisho::base::base64_decode;
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out = "junk";
    REQUIRE(base64_decode(encoded, out));
    CHECK(out == plain);
  }
  std::string out;
  REQUIRE(base64_decode("+/+/", out));
  CHECK(out == std::string("\xfb\xff\xbf", 3));
  CHECK_FALSE(base64_decode("-_-_", out));  // the URL alphabet is not this one
  CHECK_FALSE(base64_decode("Zg", out));    // padding is required
  CHECK_FALSE(base64_decode("Zg=", out));
  CHECK_FALSE(base64_decode("Z===", out));
  CHECK_FALSE(base64_decode("Zh==", out));  // stray bits
  CHECK_FALSE(base64_decode("Zm9v\n", out));
}

}
