// resolver/respond: error and cached answers as the client sees them.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "resolver/cache/answer.h"
#include "resolver/decode.h"
#include "resolver/respond.h"
#include "tests/unit/dns/dns_builder.h"

// ldns/common.h #defines bool/true/false unless stdbool.h was seen: include it last, after stdbool.
#include <stdbool.h>
#include <ldns/ldns.h>

using namespace sekisho;
using resolver::DecodedQuery;
using resolver::DecodeResult;
using resolver::Transport;
using sekisho_test::client_query;
using sekisho_test::get16;
using sekisho_test::get32;
using sekisho_test::Msg;
using sekisho_test::wire_name;

namespace {

DecodedQuery decoded(const Msg& m, DecodeResult expect = DecodeResult::ok) {
  DecodedQuery q;
  REQUIRE(resolver::decode(m.span(), q) == expect);
  return q;
}

// An upstream response to `qname`/`qtype` with `n_a` A records (TTLs from `ttls`, cycled),
// lowercase question, optional AD and OPT.
Msg upstream_response(std::string_view qname, uint16_t qtype, std::vector<uint32_t> ttls, size_t n_a, bool ad = false,
                      bool opt = false) {
  Msg m;
  m.header(0x7777, static_cast<uint16_t>(0x8180 | (ad ? 0x0020 : 0)), 1, static_cast<uint16_t>(n_a), 0, opt ? 1 : 0);
  m.question(qname, qtype);
  for (size_t i = 0; i < n_a; ++i)
    m.a_ptr(ttls[i % ttls.size()], {10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
  if (opt) m.opt(1232);
  return m;
}

cache::CachedAnswer cached(const Msg& upstream) {
  size_t pos = 12;
  dns::Question q;
  REQUIRE(dns::read_question(upstream.span(), pos, q));
  cache::CachedAnswer a;
  std::string why;
  config::CacheSettings limits;
  REQUIRE(cache::make_cached_answer(upstream.span(), pos, limits, a, why));
  return a;
}

struct Out {
  std::vector<uint8_t> buf = std::vector<uint8_t>(65535, 0xEE);
  size_t len = 0;
  std::span<const uint8_t> span() const { return {buf.data(), len}; }
  uint16_t flags() const { return get16(span(), 2); }
  uint16_t count(int i) const { return get16(span(), 4 + 2 * i); }
};

// TTLs of every answer-section record, found by walking the written message.
std::vector<uint32_t> answer_ttls(std::span<const uint8_t> msg) {
  std::vector<uint32_t> out;
  size_t pos = 12;
  dns::Question q;
  REQUIRE(dns::read_question(msg, pos, q));
  for (uint16_t i = 0; i < get16(msg, 6); ++i) {
    dns::RecordView rr;
    REQUIRE(dns::walk_record(msg, pos, rr));
    out.push_back(rr.ttl);
  }
  return out;
}

// Locates the OPT in the additional section of a written message; returns false if none.
bool find_opt(std::span<const uint8_t> msg, dns::RecordView& opt) {
  size_t pos = 12;
  if (get16(msg, 4) == 1) {
    dns::Question q;
    REQUIRE(dns::read_question(msg, pos, q));
  }
  const size_t total = size_t{get16(msg, 6)} + get16(msg, 8) + get16(msg, 10);
  bool found = false;
  for (size_t i = 0; i < total; ++i) {
    dns::RecordView rr;
    REQUIRE(dns::walk_record(msg, pos, rr));
    if (rr.type == 41) {
      CHECK_FALSE(found);
      opt = rr;
      found = true;
    }
  }
  CHECK(pos == msg.size());
  return found;
}

// The whole message must parse with ldns too (independent parser).
void check_ldns_parses(std::span<const uint8_t> msg) {
  ldns_pkt* pkt = nullptr;
  ldns_status st = ldns_wire2pkt(&pkt, msg.data(), msg.size());
  CHECK_MESSAGE(st == LDNS_STATUS_OK, ldns_get_errorstr_by_id(st));
  if (pkt) ldns_pkt_free(pkt);
}

}  // namespace

TEST_SUITE("resolver.respond") {

TEST_CASE("answer_limit") {
  CHECK(resolver::answer_limit(decoded(client_query("a.example")), Transport::udp) == 512);
  CHECK(resolver::answer_limit(decoded(client_query("a.example")), Transport::tcp) == 65535);
  CHECK(resolver::answer_limit(decoded(client_query("a.example", 1, 1, 0x100, true, 4096)), Transport::udp) == 1232);
  CHECK(resolver::answer_limit(decoded(client_query("a.example", 1, 1, 0x100, true, 800)), Transport::udp) == 800);
  CHECK(resolver::answer_limit(decoded(client_query("a.example", 1, 1, 0x100, true, 100)), Transport::udp) == 512);
  CHECK(resolver::answer_limit(decoded(client_query("a.example", 1, 1, 0x100, true, 4096)), Transport::tcp) == 65535);
}

TEST_CASE("write_error echoes ID, RD, opcode and the question with its case") {
  for (uint16_t flags : {uint16_t{0x0100}, uint16_t{0x0000}}) {
    CAPTURE(flags);
    Msg m = client_query("WwW.ExAmPlE.cOm", 28, 0xC0DE, flags);
    DecodedQuery q = decoded(m);
    Out o;
    o.len = resolver::write_error(q, dns::Rcode::servfail, nullptr, o.buf, 512);
    REQUIRE(o.len == m.size());  // same shape as the query: header + question, no OPT
    CHECK(get16(o.span(), 0) == 0xC0DE);
    CHECK((o.flags() & 0x8000) != 0);               // QR
    CHECK((o.flags() & 0x0100) == (flags & 0x0100));  // RD echoed
    CHECK((o.flags() & 0x0080) != 0);               // RA
    CHECK((o.flags() & 0x0400) == 0);               // not AA
    CHECK((o.flags() & 0x0020) == 0);               // never AD on errors
    CHECK((o.flags() & 0x000F) == 2);
    CHECK(o.count(0) == 1);
    CHECK(o.count(1) == 0);
    CHECK(o.count(2) == 0);
    CHECK(o.count(3) == 0);
    // question bytes identical to what the client sent, case included
    CHECK(std::vector<uint8_t>(o.buf.begin() + 12, o.buf.begin() + o.len) ==
          std::vector<uint8_t>(m.b.begin() + 12, m.b.end()));
    check_ldns_parses(o.span());
  }
}

TEST_CASE("write_error for NOTIMP keeps the opcode") {
  Msg m = client_query("example.com", 6, 5, 4 << 11);
  DecodedQuery q = decoded(m, DecodeResult::notimp);
  Out o;
  o.len = resolver::write_error(q, dns::Rcode::notimp, nullptr, o.buf, 512);
  REQUIRE(o.len > 0);
  CHECK(((o.flags() >> 11) & 0xF) == 4);
  CHECK((o.flags() & 0xF) == 4);
}

TEST_CASE("write_error without a question echoes none") {
  Msg m;
  m.header(0x0102, 0x0100, 2).question("a.example").question("b.example");
  DecodedQuery q = decoded(m, DecodeResult::formerr);
  Out o;
  o.len = resolver::write_error(q, dns::Rcode::formerr, nullptr, o.buf, 512);
  REQUIRE(o.len == 12);
  CHECK(get16(o.span(), 0) == 0x0102);
  CHECK(o.count(0) == 0);
  CHECK((o.flags() & 0xF) == 1);
}

TEST_CASE("OPT is present in an error exactly when the client sent one") {
  SUBCASE("client without EDNS: no OPT even with an EDE to give") {
    DecodedQuery q = decoded(client_query("example.com"));
    const dns::Ede ede{dns::EdeCode::network_error, "boom"};
    Out o;
    o.len = resolver::write_error(q, dns::Rcode::servfail, &ede, o.buf, 512);
    CHECK(o.count(3) == 0);
    dns::RecordView opt;
    CHECK_FALSE(find_opt(o.span(), opt));
  }
  SUBCASE("client with EDNS and DO: OPT with our payload and DO echoed") {
    DecodedQuery q = decoded(client_query("example.com", 1, 1, 0x100, true, 4096, true));
    Out o;
    o.len = resolver::write_error(q, dns::Rcode::servfail, nullptr, o.buf, 1232);
    CHECK(o.count(3) == 1);
    dns::RecordView opt;
    REQUIRE(find_opt(o.span(), opt));
    CHECK(opt.rclass == 1232);
    CHECK((opt.ttl & 0x8000) != 0);
    CHECK(opt.rdlength == 0);
    check_ldns_parses(o.span());
  }
  SUBCASE("client with EDNS, no DO") {
    DecodedQuery q = decoded(client_query("example.com", 1, 1, 0x100, true, 4096, false));
    Out o;
    o.len = resolver::write_error(q, dns::Rcode::refused, nullptr, o.buf, 1232);
    dns::RecordView opt;
    REQUIRE(find_opt(o.span(), opt));
    CHECK((opt.ttl & 0x8000) == 0);
  }
}

TEST_CASE("write_error carries an EDE option with code and text") {
  DecodedQuery q = decoded(client_query("example.com", 1, 1, 0x100, true, 1232));
  const dns::Ede ede{dns::EdeCode::no_reachable_authority, "all upstreams down"};
  Out o;
  o.len = resolver::write_error(q, dns::Rcode::servfail, &ede, o.buf, 1232);
  dns::RecordView opt;
  REQUIRE(find_opt(o.span(), opt));
  auto s = o.span();
  REQUIRE(opt.rdlength == 6 + ede.text.size());
  CHECK(get16(s, opt.rdata_pos) == 15);
  CHECK(get16(s, opt.rdata_pos + 2) == 2 + ede.text.size());
  CHECK(get16(s, opt.rdata_pos + 4) == 22);
  CHECK(std::string(reinterpret_cast<const char*>(&s[opt.rdata_pos + 6]), ede.text.size()) == ede.text);
  check_ldns_parses(s);
}

TEST_CASE("BADVERS puts its upper bits in the OPT TTL") {
  Msg m;
  m.header(0x5555, 0x0100, 1, 0, 0, 1).question("example.com").opt(1232, false, 1);
  DecodedQuery q = decoded(m, DecodeResult::badvers);
  Out o;
  o.len = resolver::write_error(q, dns::Rcode::badvers, nullptr, o.buf, resolver::answer_limit(q, Transport::udp));
  REQUIRE(o.len > 0);
  CHECK((o.flags() & 0xF) == 0);  // 16 & 0xF
  dns::RecordView opt;
  REQUIRE(find_opt(o.span(), opt));
  CHECK((opt.ttl >> 24) == 1);           // extended rcode: 16 >> 4
  CHECK(((opt.ttl >> 16) & 0xFF) == 0);  // we answer with version 0
}

TEST_CASE("write_error honours the limit") {
  Msg m = client_query("example.com", 1, 1, 0x100, true, 1232);
  DecodedQuery q = decoded(m);
  const size_t head = 12 + 13 + 4;
  const dns::Ede ede{dns::EdeCode::other, "some text"};
  Out o;
  CHECK(resolver::write_error(q, dns::Rcode::servfail, &ede, o.buf, head - 1) == 0);
  // Room for the head only: no OPT, and ARCOUNT must not claim one.
  o.len = resolver::write_error(q, dns::Rcode::servfail, &ede, o.buf, head + 5);
  CHECK(o.len == head);
  CHECK(o.count(3) == 0);
  // Room for a bare OPT but not the EDE: the OPT goes out without it.
  o.len = resolver::write_error(q, dns::Rcode::servfail, &ede, o.buf, head + 11);
  CHECK(o.len == head + 11);
  CHECK(o.count(3) == 1);
  // The span size limits as well as `limit`.
  std::vector<uint8_t> tiny(head - 1);
  CHECK(resolver::write_error(q, dns::Rcode::servfail, nullptr, tiny, 65535) == 0);
}

TEST_CASE("write_answer: records, counts, TTL countdown") {
  Msg up = upstream_response("www.example.com", 1, {300, 100}, 2);
  cache::CachedAnswer a = cached(up);
  Msg cq = client_query("WWW.EXAMPLE.COM", 1, 0x9999, 0x0100);
  DecodedQuery q = decoded(cq);
  Out o;
  SUBCASE("age 0 keeps TTLs and the client's case") {
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, 512);
    REQUIRE(o.len == up.size());
    CHECK(get16(o.span(), 0) == 0x9999);
    CHECK(o.count(0) == 1);
    CHECK(o.count(1) == 2);
    CHECK((o.flags() & 0xF) == 0);
    CHECK((o.flags() & 0x0200) == 0);
    CHECK(o.buf[13] == 'W');
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{300, 100});
    // RDATA copied intact
    CHECK(std::vector<uint8_t>(o.buf.begin() + o.len - 4, o.buf.begin() + o.len) == std::vector<uint8_t>{10, 0, 0, 1});
    check_ldns_parses(o.span());
  }
  SUBCASE("age 50") {
    o.len = resolver::write_answer(q, a, 50, false, nullptr, o.buf, 512);
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{250, 50});
  }
  SUBCASE("age 200: never below 0") {
    o.len = resolver::write_answer(q, a, 200, false, nullptr, o.buf, 512);
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{100, 0});
  }
  SUBCASE("age equal to a TTL gives 0") {
    o.len = resolver::write_answer(q, a, 100, false, nullptr, o.buf, 512);
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{200, 0});
  }
  SUBCASE("huge age") {
    o.len = resolver::write_answer(q, a, 0xFFFFFFFFu, false, nullptr, o.buf, 512);
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{0, 0});
  }
  SUBCASE("stale answers get TTL 30 whatever the age") {
    o.len = resolver::write_answer(q, a, 100000, true, nullptr, o.buf, 512);
    CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{30, 30});
    CHECK(resolver::kStaleTtl == 30);
  }
  SUBCASE("the cached answer itself is not modified by a hit") {
    const auto body_before = a.body;
    o.len = resolver::write_answer(q, a, 77, false, nullptr, o.buf, 512);
    CHECK(a.body == body_before);
  }
}

TEST_CASE("write_answer: stale answer with EDE 3 for an EDNS client") {
  cache::CachedAnswer a = cached(upstream_response("example.com", 1, {60}, 1));
  DecodedQuery q = decoded(client_query("example.com", 1, 1, 0x100, true, 1232));
  const dns::Ede ede{dns::EdeCode::stale_answer, "upstream timed out"};
  Out o;
  o.len = resolver::write_answer(q, a, 5000, true, &ede, o.buf, 1232);
  CHECK(answer_ttls(o.span()) == std::vector<uint32_t>{30});
  CHECK(o.count(3) == 1);
  dns::RecordView opt;
  REQUIRE(find_opt(o.span(), opt));
  CHECK(get16(o.span(), opt.rdata_pos + 4) == 3);
  check_ldns_parses(o.span());
}

TEST_CASE("write_answer: OPT iff the client sent one; upstream OPT never leaks") {
  cache::CachedAnswer a = cached(upstream_response("example.com", 1, {60}, 1, false, /*opt=*/true));
  CHECK(a.arcount == 0);
  Out o;
  DecodedQuery plain = decoded(client_query("example.com"));
  o.len = resolver::write_answer(plain, a, 0, false, nullptr, o.buf, 512);
  CHECK(o.count(3) == 0);
  dns::RecordView opt;
  CHECK_FALSE(find_opt(o.span(), opt));

  DecodedQuery edns = decoded(client_query("example.com", 1, 1, 0x100, true, 4096, true));
  o.len = resolver::write_answer(edns, a, 0, false, nullptr, o.buf, 1232);
  CHECK(o.count(3) == 1);
  REQUIRE(find_opt(o.span(), opt));
  CHECK(opt.rclass == 1232);
  CHECK((opt.ttl & 0x8000) != 0);
}

TEST_CASE("write_answer: TC=1 when the answer exceeds the client's limit") {
  // 40 A records of 16 bytes: body 640, whole answer 12 + 17 + 4 + 640 = 673 bytes.
  Msg up = upstream_response("www.example.com", 1, {60}, 40);
  cache::CachedAnswer a = cached(up);
  REQUIRE(a.body.size() == 640);
  const size_t head = 12 + 17 + 4;
  Out o;
  SUBCASE("no EDNS: 512") {
    DecodedQuery q = decoded(client_query("www.example.com", 1, 0x1111, 0x0100));
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, resolver::answer_limit(q, Transport::udp));
    CHECK(o.len == head);
    CHECK((o.flags() & 0x0200) != 0);
    CHECK(get16(o.span(), 0) == 0x1111);
    CHECK(o.count(0) == 1);
    CHECK(o.count(1) == 0);
    CHECK(o.count(2) == 0);
    CHECK(o.count(3) == 0);
    check_ldns_parses(o.span());
  }
  SUBCASE("no EDNS over TCP: full answer") {
    DecodedQuery q = decoded(client_query("www.example.com"));
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, resolver::answer_limit(q, Transport::tcp));
    CHECK(o.len == head + 640);
    CHECK((o.flags() & 0x0200) == 0);
    CHECK(o.count(1) == 40);
  }
  SUBCASE("EDNS 4096 → limit 1232: fits") {
    DecodedQuery q = decoded(client_query("www.example.com", 1, 1, 0x100, true, 4096));
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, resolver::answer_limit(q, Transport::udp));
    CHECK(o.len == head + 640 + 11);
    CHECK((o.flags() & 0x0200) == 0);
    CHECK(o.count(1) == 40);
    CHECK(o.count(3) == 1);
  }
  SUBCASE("EDNS 600: truncated, OPT kept") {
    DecodedQuery q = decoded(client_query("www.example.com", 1, 1, 0x100, true, 600));
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, resolver::answer_limit(q, Transport::udp));
    CHECK(o.len == head + 11);
    CHECK((o.flags() & 0x0200) != 0);
    CHECK(o.count(1) == 0);
    CHECK(o.count(3) == 1);
    dns::RecordView opt;
    CHECK(find_opt(o.span(), opt));
  }
  SUBCASE("exact fit at the limit is not truncated, one byte less is") {
    DecodedQuery q = decoded(client_query("www.example.com", 1, 1, 0x100, true, 4096));
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, head + 640 + 11);
    CHECK((o.flags() & 0x0200) == 0);
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, head + 640 + 10);
    CHECK((o.flags() & 0x0200) != 0);
  }
  SUBCASE("EDNS 1300 is still capped at 1232: 75 records (1244 bytes) do not fit") {
    cache::CachedAnswer big = cached(upstream_response("www.example.com", 1, {60}, 75));  // 1200 bytes body
    DecodedQuery q = decoded(client_query("www.example.com", 1, 1, 0x100, true, 1300));
    o.len = resolver::write_answer(q, big, 0, false, nullptr, o.buf, resolver::answer_limit(q, Transport::udp));
    CHECK((o.flags() & 0x0200) != 0);
  }
}

TEST_CASE("write_answer: AD only when the client set DO or AD") {
  cache::CachedAnswer signed_a = cached(upstream_response("example.com", 1, {60}, 1, /*ad=*/true));
  cache::CachedAnswer plain_a = cached(upstream_response("example.com", 1, {60}, 1, /*ad=*/false));
  REQUIRE(signed_a.authenticated);
  REQUIRE_FALSE(plain_a.authenticated);
  Out o;
  auto ad = [&](const DecodedQuery& q, const cache::CachedAnswer& a) {
    o.len = resolver::write_answer(q, a, 0, false, nullptr, o.buf, 1232);
    REQUIRE(o.len > 0);
    return (o.flags() & 0x0020) != 0;
  };
  CHECK_FALSE(ad(decoded(client_query("example.com")), signed_a));
  CHECK_FALSE(ad(decoded(client_query("example.com", 1, 1, 0x100, true, 1232, false)), signed_a));
  CHECK(ad(decoded(client_query("example.com", 1, 1, 0x100, true, 1232, true)), signed_a));
  CHECK(ad(decoded(client_query("example.com", 1, 1, 0x0120)), signed_a));  // RD + AD, no EDNS
  CHECK_FALSE(ad(decoded(client_query("example.com", 1, 1, 0x100, true, 1232, true)), plain_a));
  CHECK_FALSE(ad(decoded(client_query("example.com", 1, 1, 0x0120)), plain_a));
}

TEST_CASE("write_answer echoes CD and the upstream rcode") {
  Msg up;
  up.header(1, 0x8183, 1, 0, 1).question("nx.example.com").soa("example.com", 3600, 300);
  cache::CachedAnswer a = cached(up);
  REQUIRE(a.rcode == dns::Rcode::nxdomain);
  DecodedQuery q = decoded(client_query("nx.example.com", 1, 2, 0x0110));
  Out o;
  o.len = resolver::write_answer(q, a, 10, false, nullptr, o.buf, 512);
  CHECK((o.flags() & 0xF) == 3);
  CHECK((o.flags() & 0x0010) != 0);
  CHECK(o.count(1) == 0);
  CHECK(o.count(2) == 1);
  check_ldns_parses(o.span());
}

}  // TEST_SUITE

TEST_SUITE("resolver.respond") {

TEST_CASE("write_answer never writes outside `out`, even when it is smaller than the header + question") {
  cache::CachedAnswer a = cached(upstream_response("www.example.com", 1, {60}, 40));
  DecodedQuery q = decoded(client_query("www.example.com"));
  const size_t head = 12 + 17 + 4;
  for (size_t size : {size_t{0}, size_t{12}, head - 1}) {
    CAPTURE(size);
    std::vector<uint8_t> backing(head + 64, 0xEE);
    std::span<uint8_t> out(backing.data(), size);
    const size_t n = resolver::write_answer(q, a, 0, false, nullptr, out, 65535);
    CHECK(n == 0);
    bool untouched = true;
    for (size_t i = size; i < backing.size(); ++i) untouched = untouched && backing[i] == 0xEE;
    CHECK_MESSAGE(untouched, "write_answer wrote past the end of a " << size << "-byte buffer");
  }
  // write_error already behaves: the same check passes there.
  std::vector<uint8_t> backing(head + 64, 0xEE);
  CHECK(resolver::write_error(q, dns::Rcode::servfail, nullptr, std::span<uint8_t>(backing.data(), head - 1), 65535) == 0);
  CHECK(backing[head - 1] == 0xEE);
}

}  // TEST_SUITE
