#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <string>

#include "base/openssl_util.h"

using namespace sekisho::base;

TEST_SUITE("base.openssl_util") {

TEST_CASE("sha256_hex: FIPS 180-2 examples") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("openssl_errors drains the queue into one line") {
  ERR_clear_error();
  CHECK(openssl_errors().empty());
  const std::string junk = "not PEM";
  BioPtr bio(BIO_new_mem_buf(junk.data(), static_cast<int>(junk.size())));
  REQUIRE(bio);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  CHECK_FALSE(cert);
  const std::string text = openssl_errors();
  CHECK(text.find("no start line") != std::string::npos);
  CHECK(ERR_peek_error() == 0);
}

}
