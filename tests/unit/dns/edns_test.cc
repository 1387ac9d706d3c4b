// dns/edns: OPT parsing and the OPT (+ EDE) record we write.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <vector>

#include "dns/edns.h"
#include "tests/unit/dns/dns_builder.h"

using namespace sekisho;
using sekisho_test::get16;
using sekisho_test::get32;
using sekisho_test::Msg;

namespace {

// Parses the OPT that `m` ends with (it must be the last record).
bool parse_last_opt(const Msg& m, size_t opt_pos, dns::EdnsInfo& info) {
  size_t pos = opt_pos;
  dns::RecordView rr;
  REQUIRE(dns::walk_record(m.span(), pos, rr));
  REQUIRE(pos == m.size());
  return dns::parse_opt(m.span(), rr, info);
}

Msg query_with_opt(uint16_t payload, bool do_bit, uint8_t version, uint8_t ext, std::initializer_list<uint8_t> rdata,
                   size_t& opt_pos) {
  Msg m;
  m.header(1, 0x0100, 1, 0, 0, 1).question("example.com");
  opt_pos = m.size();
  m.opt(payload, do_bit, version, ext, rdata);
  return m;
}

}  // namespace

TEST_SUITE("resolver.edns") {

TEST_CASE("parse_opt reads payload, DO, version and extended rcode") {
  size_t at = 0;
  dns::EdnsInfo info;
  SUBCASE("typical") {
    Msg m = query_with_opt(4096, true, 0, 0, {}, at);
    REQUIRE(parse_last_opt(m, at, info));
    CHECK(info.present);
    CHECK(info.udp_payload == 4096);
    CHECK(info.do_bit);
    CHECK(info.version == 0);
    CHECK(info.ext_rcode == 0);
  }
  SUBCASE("no DO, version 1, ext rcode 1") {
    Msg m = query_with_opt(1232, false, 1, 1, {}, at);
    REQUIRE(parse_last_opt(m, at, info));
    CHECK_FALSE(info.do_bit);
    CHECK(info.version == 1);
    CHECK(info.ext_rcode == 1);
    CHECK(info.udp_payload == 1232);
  }
  SUBCASE("payload below 512 is treated as 512") {
    for (uint16_t p : {uint16_t{0}, uint16_t{1}, uint16_t{511}}) {
      Msg m = query_with_opt(p, false, 0, 0, {}, at);
      dns::EdnsInfo i2;
      REQUIRE(parse_last_opt(m, at, i2));
      CHECK(i2.udp_payload == 512);
    }
    Msg m = query_with_opt(513, false, 0, 0, {}, at);
    REQUIRE(parse_last_opt(m, at, info));
    CHECK(info.udp_payload == 513);
  }
  SUBCASE("other Z bits do not set DO") {
    Msg m = query_with_opt(1232, false, 0, 0, {}, at);
    m.b[at + 7] = 0x7F;  // Z high byte without the DO bit
    m.b[at + 8] = 0xFF;
    REQUIRE(parse_last_opt(m, at, info));
    CHECK_FALSE(info.do_bit);
  }
}

TEST_CASE("parse_opt requires the root owner") {
  Msg m;
  m.header(1, 0, 1, 0, 0, 1).question("example.com");
  const size_t at = m.size();
  m.rr("x", 41, 0, std::vector<uint8_t>{});
  dns::EdnsInfo info;
  CHECK_FALSE(parse_last_opt(m, at, info));
}

TEST_CASE("parse_opt: options must tile RDATA exactly") {
  size_t at = 0;
  dns::EdnsInfo info;
  SUBCASE("one option, exact") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, at);  // COOKIE
    CHECK(parse_last_opt(m, at, info));
  }
  SUBCASE("two options, exact") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 2, 1, 2, 0, 12, 0, 0}, at);
    CHECK(parse_last_opt(m, at, info));
  }
  SUBCASE("option length overruns RDATA") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8}, at);
    CHECK_FALSE(parse_last_opt(m, at, info));
  }
  SUBCASE("option length shorter than RDATA leaves a partial header") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8}, at);
    CHECK_FALSE(parse_last_opt(m, at, info));
  }
  SUBCASE("stray bytes shorter than an option header") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0}, at);
    CHECK_FALSE(parse_last_opt(m, at, info));
  }
  SUBCASE("option claims bytes beyond RDATA but inside the message") {
    // RDATA of 4 says option length 4, and 4 more bytes follow the OPT (trailing data).
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 4}, at);
    size_t pos = at;
    dns::RecordView rr;
    REQUIRE(dns::walk_record(m.span(), pos, rr));
    m.raw({9, 9, 9, 9});
    CHECK_FALSE(dns::parse_opt(m.span(), rr, info));
  }
}

TEST_CASE("write_opt without EDE") {
  uint8_t buf[64];
  std::memset(buf, 0xEE, sizeof buf);
  CHECK(dns::opt_size(nullptr) == 11);
  size_t n = dns::write_opt(buf, sizeof buf, 1232, dns::Rcode::noerror, true, nullptr);
  REQUIRE(n == 11);
  const uint8_t expect[] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0};
  CHECK(std::vector<uint8_t>(buf, buf + 11) == std::vector<uint8_t>(expect, expect + 11));
  CHECK(buf[11] == 0xEE);

  n = dns::write_opt(buf, sizeof buf, 512, dns::Rcode::noerror, false, nullptr);
  REQUIRE(n == 11);
  CHECK(get16(std::span<const uint8_t>(buf, 11), 3) == 512);
  CHECK(get32(std::span<const uint8_t>(buf, 11), 5) == 0);
}

TEST_CASE("write_opt puts extended rcode bits in the TTL") {
  uint8_t buf[16];
  REQUIRE(dns::write_opt(buf, sizeof buf, 1232, dns::Rcode::badvers, false, nullptr) == 11);
  CHECK(buf[5] == 1);  // 16 >> 4
  CHECK(buf[6] == 0);  // version 0
  CHECK(buf[7] == 0);
  // Classic rcodes contribute no upper bits.
  REQUIRE(dns::write_opt(buf, sizeof buf, 1232, dns::Rcode::servfail, false, nullptr) == 11);
  CHECK(buf[5] == 0);
}

TEST_CASE("write_opt with EDE") {
  std::vector<uint8_t> buf(512, 0xEE);
  const dns::Ede ede{dns::EdeCode::network_error, "upstream 127.0.0.1:53 timed out"};
  const size_t text = ede.text.size();
  CHECK(dns::opt_size(&ede) == 11 + 6 + text);
  size_t n = dns::write_opt(buf.data(), buf.size(), 1232, dns::Rcode::servfail, false, &ede);
  REQUIRE(n == 11 + 6 + text);
  std::span<const uint8_t> s(buf.data(), n);
  CHECK(s[0] == 0);
  CHECK(get16(s, 1) == 41);
  CHECK(get16(s, 9) == 6 + text);   // RDLENGTH
  CHECK(get16(s, 11) == 15);        // OPTION-CODE EDE
  CHECK(get16(s, 13) == 2 + text);  // OPTION-LENGTH
  CHECK(get16(s, 15) == 23);        // INFO-CODE
  CHECK(std::string(reinterpret_cast<const char*>(&s[17]), text) == ede.text);
  CHECK(buf[n] == 0xEE);

  SUBCASE("empty text") {
    const dns::Ede bare{dns::EdeCode::stale_answer, ""};
    std::vector<uint8_t> b2(32, 0xEE);
    REQUIRE(dns::write_opt(b2.data(), b2.size(), 1232, dns::Rcode::noerror, false, &bare) == 17);
    CHECK(get16(b2, 9) == 6);
    CHECK(get16(b2, 13) == 2);
    CHECK(get16(b2, 15) == 3);
  }
  SUBCASE("the parser accepts what the writer wrote") {
    Msg m;
    m.header(1, 0x8180, 1, 0, 0, 1).question("example.com");
    const size_t at = m.size();
    m.raw(std::span<const uint8_t>(buf.data(), n));
    dns::EdnsInfo info;
    REQUIRE(parse_last_opt(m, at, info));
    CHECK(info.udp_payload == 1232);
  }
}

TEST_CASE("write_opt cuts EDE text at 300 bytes") {
  const std::string long_text(400, 'x');
  const dns::Ede ede{dns::EdeCode::other, long_text};
  CHECK(dns::opt_size(&ede) == 11 + 6 + 300);
  std::vector<uint8_t> buf(1024, 0xEE);
  size_t n = dns::write_opt(buf.data(), buf.size(), 1232, dns::Rcode::noerror, false, &ede);
  REQUIRE(n == 317);
  CHECK(get16(buf, 9) == 306);
  CHECK(get16(buf, 13) == 302);
  CHECK(buf[316] == 'x');
  CHECK(buf[317] == 0xEE);

  const std::string exact(300, 'y');
  const dns::Ede ede2{dns::EdeCode::other, exact};
  CHECK(dns::opt_size(&ede2) == 317);
}

TEST_CASE("write_opt returns 0 when the buffer is too small") {
  uint8_t buf[64];
  CHECK(dns::write_opt(buf, 10, 1232, dns::Rcode::noerror, false, nullptr) == 0);
  CHECK(dns::write_opt(buf, 0, 1232, dns::Rcode::noerror, false, nullptr) == 0);
  CHECK(dns::write_opt(buf, 11, 1232, dns::Rcode::noerror, false, nullptr) == 11);
  const dns::Ede ede{dns::EdeCode::blocked, "blocked"};  // needs 24
  CHECK(dns::write_opt(buf, 23, 1232, dns::Rcode::noerror, false, &ede) == 0);
  CHECK(dns::write_opt(buf, 24, 1232, dns::Rcode::noerror, false, &ede) == 24);
}

}  // TEST_SUITE

TEST_CASE("parse_opt notes an ECS option with source prefix 0 (RFC 7871 §7.1.2), and only that") {
  size_t at = 0;
  dns::EdnsInfo info;
  SUBCASE("ECS 0.0.0.0/0: the client asks for no subnet") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 8, 0, 4, 0, 1, 0, 0}, at);
    CHECK(parse_last_opt(m, at, info));
    CHECK(info.ecs_opt_out);
  }
  SUBCASE("ECS 198.51.100.0/24: not an opt-out (and its address is never used)") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100}, at);
    CHECK(parse_last_opt(m, at, info));
    CHECK_FALSE(info.ecs_opt_out);
  }
  SUBCASE("no ECS") {
    Msg m = query_with_opt(1232, false, 0, 0, {0, 10, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}, at);
    CHECK(parse_last_opt(m, at, info));
    CHECK_FALSE(info.ecs_opt_out);
  }
}

TEST_CASE("client_subnet_of: /24 of IPv4 (mapped too), /56 of IPv6, bits past the prefix zero") {
  sockaddr_in a4{};
  a4.sin_family = AF_INET;
  const uint8_t v4[4] = {192, 0, 2, 77};
  std::memcpy(&a4.sin_addr, v4, 4);
  dns::ClientSubnet s = dns::client_subnet_of(reinterpret_cast<const sockaddr*>(&a4), 24, 56);
  CHECK(s.family == 1);
  CHECK(s.source_prefix == 24);
  CHECK(s.address_bytes() == 3);
  CHECK(std::vector<uint8_t>(s.address, s.address + 4) == std::vector<uint8_t>{192, 0, 2, 0});

  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  const uint8_t m6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  std::memcpy(&mapped.sin6_addr, m6, 16);
  s = dns::client_subnet_of(reinterpret_cast<const sockaddr*>(&mapped), 20, 56);
  CHECK(s.family == 1);
  CHECK(s.address_bytes() == 3);
  CHECK(std::vector<uint8_t>(s.address, s.address + 4) == std::vector<uint8_t>{10, 1, 0, 0});  // 10.1.2.3/20 = 10.1.0.0

  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  const uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 0xff, 9, 9, 9, 9, 9, 9, 9, 9};
  std::memcpy(&a6.sin6_addr, b6, 16);
  s = dns::client_subnet_of(reinterpret_cast<const sockaddr*>(&a6), 24, 56);
  CHECK(s.family == 2);
  CHECK(s.address_bytes() == 7);
  CHECK(std::vector<uint8_t>(s.address, s.address + 8) == std::vector<uint8_t>{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 0});

  sockaddr_un local{};
  local.sun_family = AF_UNIX;
  CHECK(dns::client_subnet_of(reinterpret_cast<const sockaddr*>(&local), 24, 56).family == 0);
}

TEST_CASE("append_ecs_option: RFC 7871 §6 layout after the OPT, RDLENGTH raised") {
  uint8_t buf[64] = {};
  const size_t opt = dns::write_opt(buf, sizeof buf, 1232, dns::Rcode::noerror, false, nullptr);
  REQUIRE(opt == 11);
  dns::ClientSubnet s;
  s.family = 1;
  s.source_prefix = 24;
  s.address[0] = 192;
  s.address[1] = 0;
  s.address[2] = 2;
  CHECK(dns::append_ecs_option(buf, opt, s) == 11);
  CHECK(get16(std::span<const uint8_t>(buf, 22), 9) == 11);  // RDLENGTH
  CHECK(std::vector<uint8_t>(buf + 11, buf + 22) == std::vector<uint8_t>{0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2});
  CHECK(dns::append_ecs_option(buf, opt, dns::ClientSubnet{}) == 0);
}

TEST_CASE("ecs_echo_matches: an answer echoing another subnet is refused (RFC 7871 §7.3)") {
  dns::ClientSubnet sent;
  sent.family = 1;
  sent.source_prefix = 24;
  sent.address[0] = 192;
  sent.address[1] = 0;
  sent.address[2] = 2;
  auto answer = [](std::initializer_list<uint8_t> opt_rdata, size_t& question_end) {
    Msg m;
    m.header(1, 0x8180, 1, 1, 0, 1).question("example.com");
    question_end = m.size();
    m.name("example.com").u16(1).u16(1).u32(60).u16(4).raw({192, 0, 2, 1});
    m.opt(1232, false, 0, 0, opt_rdata);
    return m;
  };
  size_t qe = 0;
  // SCOPE may differ (it is the answer's to set); FAMILY, SOURCE and the address may not.
  Msg same = answer({0, 8, 0, 7, 0, 1, 24, 16, 192, 0, 2}, qe);
  CHECK(dns::ecs_echo_matches(same.span(), qe, sent));
  Msg other_address = answer({0, 8, 0, 7, 0, 1, 24, 24, 198, 51, 100}, qe);
  CHECK_FALSE(dns::ecs_echo_matches(other_address.span(), qe, sent));
  Msg other_prefix = answer({0, 8, 0, 6, 0, 1, 16, 16, 192, 0}, qe);
  CHECK_FALSE(dns::ecs_echo_matches(other_prefix.span(), qe, sent));
  Msg other_family = answer({0, 8, 0, 7, 0, 2, 24, 0, 192, 0, 2}, qe);
  CHECK_FALSE(dns::ecs_echo_matches(other_family.span(), qe, sent));
  Msg cut = answer({0, 8, 0, 2, 0, 1}, qe);
  CHECK_FALSE(dns::ecs_echo_matches(cut.span(), qe, sent));
  // No ECS in the answer, or none sent: nothing to check.
  Msg none = answer({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, qe);
  CHECK(dns::ecs_echo_matches(none.span(), qe, sent));
  CHECK(dns::ecs_echo_matches(other_address.span(), qe, dns::ClientSubnet{}));
}

