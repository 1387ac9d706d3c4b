// resolver/ddr: the `_dns.resolver.arpa` SVCB answer (RFC 9462), parsed back field by field
// with the test's own reader and as a whole with ldns.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "resolver/ddr.h"
#include "resolver/decode.h"
#include "resolver/respond.h"
#include "tests/unit/dns/dns_builder.h"

// ldns/common.h #defines bool/true/false unless stdbool.h was seen: include it last, after stdbool.
#include <stdbool.h>
#include <ldns/ldns.h>

using namespace sekisho;
using sekisho_test::client_query;
using sekisho_test::get16;
using sekisho_test::get32;
using sekisho_test::wire_name;

namespace {

resolver::DecodedQuery decoded(const sekisho_test::Msg& m) {
  resolver::DecodedQuery q;
  REQUIRE(resolver::decode(m.span(), q) == resolver::DecodeResult::ok);
  return q;
}

config::ServerSettings server(std::vector<const char*> doh, std::vector<const char*> dot, const char* name = "dns.example.net") {
  config::ServerSettings s;
  s.public_name = name;
  std::string why;
  for (auto* a : doh) s.doh_listen.push_back(*net::parse_socket_address(a, 443, why));
  for (auto* a : dot) s.dot_listen.push_back(*net::parse_socket_address(a, 853, why));
  return s;
}

struct Svcb {
  uint16_t priority = 0;
  std::vector<uint8_t> target;
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> params;  // in wire order
  const std::vector<uint8_t>* param(uint16_t key) const {
    for (const auto& [k, v] : params)
      if (k == key) return &v;
    return nullptr;
  }
};

struct Answer {
  uint16_t rcode = 0;
  uint16_t ancount = 0;
  std::vector<Svcb> records;
  std::vector<uint32_t> ttls;
};

// Reads the answer section independently of resolver/dns: owner must be a pointer to the
// question, RDATA = priority, uncompressed target, key/length/value params.
Answer parse(std::span<const uint8_t> msg, size_t question_len) {
  Answer a;
  a.rcode = get16(msg, 2) & 0x000F;
  a.ancount = get16(msg, 6);
  size_t pos = 12 + question_len + 4;
  for (uint16_t i = 0; i < a.ancount; ++i) {
    REQUIRE(get16(msg, pos) == 0xC00C);
    REQUIRE(get16(msg, pos + 2) == 64);
    REQUIRE(get16(msg, pos + 4) == 1);
    a.ttls.push_back(get32(msg, pos + 6));
    const size_t rdlength = get16(msg, pos + 10);
    size_t p = pos + 12;
    const size_t end = p + rdlength;
    REQUIRE(end <= msg.size());
    Svcb r;
    r.priority = get16(msg, p);
    p += 2;
    while (msg[p] != 0) {
      REQUIRE((msg[p] & 0xC0) == 0);  // no compression in TargetName
      r.target.insert(r.target.end(), msg.begin() + p, msg.begin() + p + msg[p] + 1);
      p += msg[p] + 1;
    }
    r.target.push_back(0);
    ++p;
    uint16_t last_key = 0;
    while (p < end) {
      const uint16_t key = get16(msg, p), len = get16(msg, p + 2);
      CHECK((r.params.empty() || key > last_key));  // RFC 9460 §2.2: strictly increasing keys
      last_key = key;
      r.params.emplace_back(key, std::vector<uint8_t>(msg.begin() + p + 4, msg.begin() + p + 4 + len));
      p += 4 + len;
    }
    REQUIRE(p == end);
    a.records.push_back(std::move(r));
    pos = end;
  }
  return a;
}

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<uint8_t> port(uint16_t p) { return {static_cast<uint8_t>(p >> 8), static_cast<uint8_t>(p)}; }

std::string ldns_text(std::span<const uint8_t> msg) {
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, msg.data(), msg.size()) == LDNS_STATUS_OK);
  std::string out;
  ldns_rr_list* answer = ldns_pkt_answer(pkt);
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    char* text = ldns_rr2str(ldns_rr_list_rr(answer, i));
    out += text;
    free(text);
  }
  ldns_pkt_free(pkt);
  return out;
}

}  // namespace

TEST_CASE("DDR: only _dns.resolver.arpa in class IN, in any letter case") {
  CHECK(resolver::is_ddr_query(decoded(client_query("_dns.resolver.arpa", 64))));
  CHECK(resolver::is_ddr_query(decoded(client_query("_DNS.Resolver.ARPA", 1))));
  CHECK_FALSE(resolver::is_ddr_query(decoded(client_query("_dns.resolver.arpa.example", 64))));
  CHECK_FALSE(resolver::is_ddr_query(decoded(client_query("resolver.arpa", 64))));
  CHECK_FALSE(resolver::is_ddr_query(decoded(client_query("x_dns.resolver.arpa", 64))));
}

TEST_CASE("DDR: DoH and DoT endpoints with alpn, port, hints and dohpath") {
  const auto m = client_query("_dns.resolver.arpa", 64, 0xBEEF, 0x0100, true);
  const auto q = decoded(m);
  const auto s = server({"127.0.0.1:8443", "[::1]:8443", "0.0.0.0:8443", "127.0.0.2:9443"}, {"127.0.0.1:8853"});
  std::vector<uint8_t> out(4096);
  const size_t n = resolver::write_ddr(q, s, out, resolver::answer_limit(q, resolver::Transport::udp));
  REQUIRE(n > 0);
  const std::span<const uint8_t> msg(out.data(), n);
  CHECK(get16(msg, 0) == 0xBEEF);
  const Answer a = parse(msg, wire_name("_dns.resolver.arpa").size());
  CHECK(a.rcode == 0);
  REQUIRE(a.records.size() == 2);
  CHECK(a.ttls[0] == resolver::kDdrTtl);

  const Svcb& doh = a.records[0];
  CHECK(doh.priority == 1);
  CHECK(doh.target == wire_name("dns.example.net"));
  CHECK(*doh.param(1) == std::vector<uint8_t>{2, 'h', '2'});
  CHECK(*doh.param(3) == port(8443));
  // Specific listeners on the advertised port only: not the wildcard, not 127.0.0.2:9443.
  CHECK(*doh.param(4) == std::vector<uint8_t>{127, 0, 0, 1});
  std::vector<uint8_t> v6(16, 0);
  v6[15] = 1;
  CHECK(*doh.param(6) == v6);
  CHECK(*doh.param(7) == bytes("/dns-query{?dns}"));

  const Svcb& dot = a.records[1];
  CHECK(dot.priority == 2);
  CHECK(dot.target == wire_name("dns.example.net"));
  CHECK(*dot.param(1) == std::vector<uint8_t>{3, 'd', 'o', 't'});
  CHECK(*dot.param(3) == port(8853));
  CHECK(*dot.param(4) == std::vector<uint8_t>{127, 0, 0, 1});
  CHECK(dot.param(6) == nullptr);
  CHECK(dot.param(7) == nullptr);

  // An independent parser accepts the whole message and sees both SVCB records.
  const std::string text = ldns_text(msg);
  INFO(text);
  CHECK(text.find("_dns.resolver.arpa.") != std::string::npos);
  CHECK(text.find("dns.example.net.") != std::string::npos);
  CHECK(text.find("SVCB") != std::string::npos);
}

TEST_CASE("DDR: wildcard listeners give no hints") {
  const auto q = decoded(client_query("_dns.resolver.arpa", 64));
  std::vector<uint8_t> out(4096);
  const size_t n = resolver::write_ddr(q, server({"[::]:443"}, {}), out, 512);
  const Answer a = parse(std::span<const uint8_t>(out.data(), n), wire_name("_dns.resolver.arpa").size());
  REQUIRE(a.records.size() == 1);
  CHECK(*a.records[0].param(3) == port(443));
  CHECK(a.records[0].param(4) == nullptr);
  CHECK(a.records[0].param(6) == nullptr);
}

TEST_CASE("DDR: NODATA without public_name, without encrypted listeners, or for other types") {
  std::vector<uint8_t> out(4096);
  auto check_nodata = [&](const sekisho_test::Msg& m, const config::ServerSettings& s) {
    const auto q = decoded(m);
    const size_t n = resolver::write_ddr(q, s, out, 512);
    REQUIRE(n > 0);
    const std::span<const uint8_t> msg(out.data(), n);
    CHECK((get16(msg, 2) & 0x000F) == 0);  // NOERROR
    CHECK(get16(msg, 6) == 0);              // no answers
    CHECK((get16(msg, 2) & 0x0200) == 0);   // not truncated
  };
  check_nodata(client_query("_dns.resolver.arpa", 64), server({"127.0.0.1:8443"}, {"127.0.0.1:8853"}, ""));
  check_nodata(client_query("_dns.resolver.arpa", 64), server({}, {}));
  check_nodata(client_query("_dns.resolver.arpa", 1), server({"127.0.0.1:8443"}, {"127.0.0.1:8853"}));
  check_nodata(client_query("_dns.resolver.arpa", 65), server({"127.0.0.1:8443"}, {"127.0.0.1:8853"}));
}

TEST_CASE("DDR: many listeners still fit a 512-byte answer") {
  std::vector<const char*> doh = {"127.0.0.1:443", "127.0.0.2:443", "127.0.0.3:443", "127.0.0.4:443", "127.0.0.5:443",
                                  "[2001:db8::1]:443", "[2001:db8::2]:443", "[2001:db8::3]:443", "[2001:db8::4]:443",
                                  "[2001:db8::5]:443"};
  const auto q = decoded(client_query("_dns.resolver.arpa", 64));
  std::vector<uint8_t> out(4096);
  const size_t n = resolver::write_ddr(q, server(doh, doh, "a-rather-long-public-name.dns.example.net"), out, 512);
  REQUIRE(n > 0);
  CHECK(n <= 512);
  const Answer a = parse(std::span<const uint8_t>(out.data(), n), wire_name("_dns.resolver.arpa").size());
  REQUIRE(a.records.size() == 2);
  CHECK(a.records[0].param(4)->size() == 16);  // four of the five IPv4 hints
  CHECK(a.records[0].param(6)->size() == 64);
}
