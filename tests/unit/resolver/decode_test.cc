// resolver/decode: which client messages go on, get an error answer, or are dropped.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "resolver/decode.h"
#include "tests/unit/dns/dns_builder.h"

using namespace sekisho;
using resolver::DecodedQuery;
using resolver::DecodeResult;
using sekisho_test::client_query;
using sekisho_test::Msg;

namespace {

DecodeResult run_decode(const Msg& m, DecodedQuery& q) { return resolver::decode(m.span(), q); }

DecodeResult run_decode(const Msg& m) {
  DecodedQuery q;
  return resolver::decode(m.span(), q);
}

}  // namespace

TEST_SUITE("resolver.decode") {

TEST_CASE("a plain query decodes ok with header, question and no EDNS") {
  Msg m = client_query("WWW.example.com", 28, 0xABCD, 0x0110);  // RD + CD
  DecodedQuery q;
  REQUIRE(run_decode(m, q) == DecodeResult::ok);
  CHECK(q.header.id == 0xABCD);
  CHECK(q.header.flags == 0x0110);
  CHECK(q.question_ok);
  CHECK(q.question.qtype == 28);
  CHECK(q.question.qclass == 1);
  CHECK(q.question.qname[1] == 'W');
  CHECK(q.question.qname_lower[1] == 'w');
  CHECK_FALSE(q.edns.present);
  CHECK(q.edns.udp_payload == 512);
}

TEST_CASE("a query with EDNS decodes its OPT") {
  Msg m = client_query("example.com", 1, 1, 0x0100, true, 4096, true);
  DecodedQuery q;
  REQUIRE(run_decode(m, q) == DecodeResult::ok);
  CHECK(q.edns.present);
  CHECK(q.edns.do_bit);
  CHECK(q.edns.udp_payload == 4096);
}

TEST_CASE("decode state from a previous message does not leak into the next") {
  DecodedQuery q;
  REQUIRE(run_decode(client_query("a.example", 1, 1, 0x0100, true, 4096, true), q) == DecodeResult::ok);
  REQUIRE(q.edns.present);
  REQUIRE(run_decode(client_query("b.example"), q) == DecodeResult::ok);
  CHECK_FALSE(q.edns.present);
  CHECK_FALSE(q.edns.do_bit);
  Msg no_question;
  no_question.header(9, 0x0100, 0);
  REQUIRE(run_decode(no_question, q) == DecodeResult::formerr);
  CHECK_FALSE(q.question_ok);
}

TEST_CASE("short messages and responses are dropped") {
  Msg m = client_query("example.com");
  for (size_t len = 0; len < 12; ++len) {
    CAPTURE(len);
    DecodedQuery q;
    CHECK(resolver::decode(m.span().first(len), q) == DecodeResult::drop);
  }
  Msg resp = client_query("example.com", 1, 1, 0x8100);
  CHECK(run_decode(resp) == DecodeResult::drop);
  // QR=1 drops even when everything else is wrong too (never answer a response).
  Msg weird;
  weird.header(1, 0x8000 | 0x2000, 0);
  CHECK(run_decode(weird) == DecodeResult::drop);
}

TEST_CASE("QDCOUNT other than 1 is FORMERR for QUERY") {
  Msg zero;
  zero.header(1, 0x0100, 0);
  DecodedQuery q;
  CHECK(run_decode(zero, q) == DecodeResult::formerr);
  CHECK_FALSE(q.question_ok);

  Msg two;
  two.header(1, 0x0100, 2).question("a.example").question("b.example");
  CHECK(run_decode(two, q) == DecodeResult::formerr);
  CHECK_FALSE(q.question_ok);
}

TEST_CASE("non-QUERY opcodes are NOTIMP") {
  for (uint16_t opcode : {1, 2, 4, 5, 15}) {
    CAPTURE(opcode);
    Msg m = client_query("example.com", 6, 1, static_cast<uint16_t>(opcode << 11));
    DecodedQuery q;
    CHECK(run_decode(m, q) == DecodeResult::notimp);
    CHECK(q.question_ok);  // the question can still be echoed
  }
  Msg notify_no_q;
  notify_no_q.header(1, 4 << 11, 0);
  CHECK(run_decode(notify_no_q) == DecodeResult::notimp);
}

TEST_CASE("a truncated question is FORMERR at every length") {
  Msg m = client_query("www.example.com");
  for (size_t len = 12; len < m.size(); ++len) {
    CAPTURE(len);
    DecodedQuery q;
    CHECK(resolver::decode(m.span().first(len), q) == DecodeResult::formerr);
    CHECK_FALSE(q.question_ok);
  }
}

TEST_CASE("a compressed question name is FORMERR") {
  Msg m;
  m.header(1, 0x0100, 1).raw({0xC0, 0x0C}).u16(1).u16(1);
  CHECK(run_decode(m) == DecodeResult::formerr);
}

TEST_CASE("two OPT records are FORMERR") {
  Msg m;
  m.header(1, 0x0100, 1, 0, 0, 2).question("example.com").opt().opt();
  CHECK(run_decode(m) == DecodeResult::formerr);
}

TEST_CASE("OPT outside the additional section is FORMERR") {
  SUBCASE("answer section") {
    Msg m;
    m.header(1, 0x0100, 1, 1, 0, 0).question("example.com").opt();
    CHECK(run_decode(m) == DecodeResult::formerr);
  }
  SUBCASE("authority section") {
    Msg m;
    m.header(1, 0x0100, 1, 0, 1, 0).question("example.com").opt();
    CHECK(run_decode(m) == DecodeResult::formerr);
  }
}

TEST_CASE("OPT with a non-root owner or bad options is FORMERR") {
  Msg owner;
  owner.header(1, 0x0100, 1, 0, 0, 1).question("example.com").rr("x", 41, 0, std::vector<uint8_t>{});
  CHECK(run_decode(owner) == DecodeResult::formerr);
  Msg opts;
  opts.header(1, 0x0100, 1, 0, 0, 1).question("example.com").opt(1232, false, 0, 0, {0, 10, 0, 9, 1});
  CHECK(run_decode(opts) == DecodeResult::formerr);
}

TEST_CASE("trailing garbage and missing records are FORMERR") {
  Msg tail = client_query("example.com");
  tail.u8(0);
  CHECK(run_decode(tail) == DecodeResult::formerr);
  Msg tail_edns = client_query("example.com", 1, 1, 0x0100, true);
  tail_edns.raw({1, 2, 3});
  CHECK(run_decode(tail_edns) == DecodeResult::formerr);
  Msg missing = client_query("example.com");
  missing.set_count(3, 1);  // ARCOUNT 1 but no record
  CHECK(run_decode(missing) == DecodeResult::formerr);
  Msg truncated_opt = client_query("example.com", 1, 1, 0x0100, true);
  truncated_opt.b.pop_back();
  CHECK(run_decode(truncated_opt) == DecodeResult::formerr);
}

TEST_CASE("other records in a query are walked and accepted") {
  // e.g. a TSIG-less query with an extra A record in additional: not our business, but well-formed.
  Msg m;
  m.header(1, 0x0100, 1, 0, 0, 2).question("example.com").a_ptr(60).opt();
  DecodedQuery q;
  CHECK(run_decode(m, q) == DecodeResult::ok);
  CHECK(q.edns.present);
}

TEST_CASE("EDNS version 1 is BADVERS, after the OPT has been read") {
  Msg m;
  m.header(1, 0x0100, 1, 0, 0, 1).question("example.com").opt(4096, true, 1);
  DecodedQuery q;
  CHECK(run_decode(m, q) == DecodeResult::badvers);
  CHECK(q.edns.present);
  CHECK(q.edns.version == 1);
  CHECK(q.edns.do_bit);
  CHECK(q.question_ok);
  // Malformed wins over BADVERS.
  Msg bad;
  bad.header(1, 0x0100, 1, 0, 0, 1).question("example.com").opt(4096, true, 1).u8(0);
  CHECK(run_decode(bad) == DecodeResult::formerr);
}

TEST_CASE("zone transfers are REFUSED") {
  CHECK(run_decode(client_query("example.com", 252)) == DecodeResult::refused);
  CHECK(run_decode(client_query("example.com", 251)) == DecodeResult::refused);
  CHECK(run_decode(client_query("example.com", 255)) == DecodeResult::ok);  // ANY is forwarded
}

TEST_CASE("every single-byte truncation of an EDNS query is rejected, never ok") {
  Msg m;
  m.header(0x4242, 0x0100, 1, 0, 0, 1).question("mail.example.org", 15).opt(1232, true, 0, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  REQUIRE(run_decode(m) == DecodeResult::ok);
  for (size_t len = 0; len < m.size(); ++len) {
    CAPTURE(len);
    DecodedQuery q;
    DecodeResult r = resolver::decode(m.span().first(len), q);
    CHECK(r != DecodeResult::ok);
    CHECK(r == (len < 12 ? DecodeResult::drop : DecodeResult::formerr));
  }
}

}  // TEST_SUITE
