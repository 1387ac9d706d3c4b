// What an upstream's answer gives the intercept to dial: records of the asked type (a CNAME
// chain's other records skipped), non-public addresses refused unless allow_private covers them
// (v4-mapped IPv6 judged as IPv4), the TTL of the answer's records, the port set.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dns/wire.h"
#include "intercept/origin_address.h"
#include "policy/domain_list.h"

namespace {

using namespace sekisho;
using intercept::OriginAddresses;

constexpr uint16_t kA = 1, kAAAA = 28, kCname = 5;

struct Rr {
  uint16_t type;
  uint32_t ttl;
  std::string rdata;      // raw bytes
  std::string owner = {};  // wire form; empty: the question's name (pointer 0xC00C)
  uint16_t rclass = 1;
};

std::string v4(const char* text) {
  in_addr a{};
  REQUIRE(inet_pton(AF_INET, text, &a) == 1);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

std::string v6(const char* text) {
  in6_addr a{};
  REQUIRE(inet_pton(AF_INET6, text, &a) == 1);
  return std::string(reinterpret_cast<const char*>(&a), 16);
}

// A response to `qtype` for `name` with `answers`, each owned by the question's name (pointer
// 0xC00C) unless it names its owner.
std::vector<uint8_t> response(const std::string& name, uint16_t qtype, const std::vector<Rr>& answers, size_t& question_end) {
  std::vector<uint8_t> m(12, 0);
  dns::write_u16(m.data() + 2, 0x8180);
  dns::write_u16(m.data() + 4, 1);
  dns::write_u16(m.data() + 6, static_cast<uint16_t>(answers.size()));
  const std::string wire = policy::to_wire(name);
  m.insert(m.end(), wire.begin(), wire.end());
  m.insert(m.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  question_end = m.size();
  for (const Rr& rr : answers) {
    if (rr.owner.empty()) {
      m.insert(m.end(), {0xC0, 0x0C});
    } else {
      m.insert(m.end(), rr.owner.begin(), rr.owner.end());
    }
    uint8_t fixed[10] = {static_cast<uint8_t>(rr.type >> 8), static_cast<uint8_t>(rr.type),
                         static_cast<uint8_t>(rr.rclass >> 8), static_cast<uint8_t>(rr.rclass)};
    dns::write_u32(fixed + 4, rr.ttl);
    dns::write_u16(fixed + 8, static_cast<uint16_t>(rr.rdata.size()));
    m.insert(m.end(), fixed, fixed + 10);
    m.insert(m.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return m;
}

config::NetworkSettings network(const char* address, int family, uint8_t prefix) {
  config::NetworkSettings n;
  n.family = family;
  REQUIRE(inet_pton(family, address, n.address) == 1);
  n.prefix_length = prefix;
  return n;
}

}  // namespace

TEST_CASE("origin addresses: public records kept with the port, the CNAME skipped, the smallest TTL") {
  size_t qend = 0;
  const auto msg = response("www.example", kA,
                            {{kCname, 10, policy::to_wire("cdn.example")}, {kA, 300, v4("93.184.216.34")},
                             {kA, 120, v4("8.8.8.8")}},
                            qend);
  OriginAddresses out;
  intercept::add_answer_addresses(msg, qend, kA, "www.example", 8443, {}, out);
  REQUIRE(out.addresses.size() == 2);
  CHECK(out.addresses[0].to_string() == "93.184.216.34:8443");
  CHECK(out.addresses[1].to_string() == "8.8.8.8:8443");
  CHECK(out.ttl == 120);  // the A records' smallest; the CNAME's 10 is not an address record
  CHECK(out.why.empty());

  // AAAA after A: appended, the TTL the smallest of both.
  const auto msg6 = response("www.example", kAAAA, {{kAAAA, 60, v6("2606:4700::1111")}}, qend);
  intercept::add_answer_addresses(msg6, qend, kAAAA, "www.example", 8443, {}, out);
  REQUIRE(out.addresses.size() == 3);
  CHECK(out.addresses[2].to_string() == "[2606:4700::1111]:8443");
  CHECK(out.ttl == 60);
}

TEST_CASE("origin addresses: non-public ones refused and named unless allow_private covers them") {
  size_t qend = 0;
  const auto msg = response("in.example", kA, {{kA, 300, v4("10.1.2.3")}, {kA, 300, v4("127.0.0.1")}}, qend);
  OriginAddresses out;
  intercept::add_answer_addresses(msg, qend, kA, "in.example", 443, {}, out);
  CHECK(out.addresses.empty());
  CHECK(out.why ==
        "in.example resolves to 127.0.0.1, in 127.0.0.0/8 (loopback (RFC 1122)), a non-public address "
        "(intercept.allow_private does not cover it)");

  OriginAddresses allowed;
  intercept::add_answer_addresses(msg, qend, kA, "in.example", 443, {network("127.0.0.0", AF_INET, 8)}, allowed);
  REQUIRE(allowed.addresses.size() == 1);  // 10.1.2.3 still refused
  CHECK(allowed.addresses[0].to_string() == "127.0.0.1:443");

  // ::ffff:10.0.0.1 is judged as IPv4: a private address, refused.
  const auto mapped = response("in.example", kAAAA, {{kAAAA, 300, v6("::ffff:10.0.0.1")}}, qend);
  OriginAddresses m;
  intercept::add_answer_addresses(mapped, qend, kAAAA, "in.example", 443, {}, m);
  CHECK(m.addresses.empty());
  CHECK(m.why.find("::ffff:10.0.0.1") != std::string::npos);

  // A record of the wrong length is not an address.
  const auto bad = response("in.example", kA, {{kA, 300, std::string("\x08\x08\x08", 3)}}, qend);
  OriginAddresses b;
  intercept::add_answer_addresses(bad, qend, kA, "in.example", 443, {}, b);
  CHECK(b.addresses.empty());
  CHECK(b.why.empty());
}

TEST_CASE("origin addresses: only records of the question's name and its CNAME chain, class IN, are used") {
  size_t qend = 0;
  const std::string cdn = policy::to_wire("cdn.example");
  const auto msg = response("www.example", kA,
                            {{kA, 300, v4("6.6.6.6"), policy::to_wire("evil.example")},  // another name: slipped in
                             {kA, 300, v4("7.7.7.7"), {}, 3},                           // class CH
                             {kCname, 300, cdn},
                             {kA, 300, v4("93.184.216.34"), cdn},
                             {kA, 30, v4("5.5.5.5"), policy::to_wire("other.example")}},
                            qend);
  OriginAddresses out;
  intercept::add_answer_addresses(msg, qend, kA, "www.example", 443, {}, out);
  REQUIRE(out.addresses.size() == 1);
  CHECK(out.addresses[0].to_string() == "93.184.216.34:443");
  CHECK(out.ttl == 300);  // the unused records' TTLs do not count
}

TEST_CASE("origin addresses: NAT64, 6to4 and mapped addresses refused by the IPv4 they reach, allowed by it") {
  size_t qend = 0;
  const auto msg = response("meta.example", kAAAA,
                            {{kAAAA, 300, v6("64:ff9b::a9fe:a9fe")}, {kAAAA, 300, v6("2002:7f00:1::")},
                             {kAAAA, 300, v6("::ffff:127.0.0.1")}},
                            qend);
  OriginAddresses out;
  intercept::add_answer_addresses(msg, qend, kAAAA, "meta.example", 443, {}, out);
  CHECK(out.addresses.empty());
  CHECK(out.why ==
        "meta.example resolves to ::ffff:127.0.0.1, an address of ::ffff:0:0/96 (IPv4-mapped address (RFC 4291)) "
        "that reaches 127.0.0.1, in 127.0.0.0/8 (loopback (RFC 1122)), a non-public address "
        "(intercept.allow_private does not cover it)");
  // allow_private names the IPv4 network: the forms reaching it are covered too; the
  // metadata service is not.
  OriginAddresses allowed;
  intercept::add_answer_addresses(msg, qend, kAAAA, "meta.example", 443, {network("127.0.0.0", AF_INET, 8)}, allowed);
  REQUIRE(allowed.addresses.size() == 2);
  CHECK(allowed.addresses[0].to_string() == "[2002:7f00:1::]:443");
  CHECK(allowed.addresses[1].to_string() == "[::ffff:127.0.0.1]:443");
  CHECK(allowed.why.find("64:ff9b::a9fe:a9fe") != std::string::npos);
  CHECK(allowed.why.find("169.254.0.0/16") != std::string::npos);
}
