// DoH Cache-Control (RFC 8484 §5.1): max-age is the smallest TTL of the answer's records, OPT
// excluded (its TTL field holds EDNS flags, not a lifetime).
#include <doctest/doctest.h>

#include "resolver/transport/doh.h"
#include "tests/unit/dns/dns_builder.h"

using sekisho::resolver::min_ttl;
using sekisho_test::Msg;

TEST_SUITE("http.doh_cache_control") {

TEST_CASE("the smallest TTL across answer and authority records; OPT ignored") {
  Msg m;
  m.header(1, 0x8180, 1, 2, 1, 1).question("www.example.com").a_ptr(3600).a_ptr(45).soa("example.com", 300, 60).opt();
  auto ttl = min_ttl(m.span());
  REQUIRE(ttl);
  CHECK(*ttl == 45);
}

TEST_CASE("a negative answer takes the SOA's TTL") {
  Msg m;
  m.header(1, 0x8183, 1, 0, 1, 0).question("nx.example.com").soa("example.com", 60, 60);
  auto ttl = min_ttl(m.span());
  REQUIRE(ttl);
  CHECK(*ttl == 60);
}

TEST_CASE("no records (an error answer with only OPT) gives nothing; truncated messages give nothing") {
  Msg m;
  m.header(1, 0x8182, 1, 0, 0, 1).question("www.example.com").opt();
  CHECK_FALSE(min_ttl(m.span()));
  Msg cut;
  cut.header(1, 0x8180, 1, 1, 0, 0).question("www.example.com");  // ancount 1, no record
  CHECK_FALSE(min_ttl(cut.span()));
  const uint8_t tiny[] = {0, 1, 0x81};
  CHECK_FALSE(min_ttl(tiny));
}

}
