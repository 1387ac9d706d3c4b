// The intercept's address filter against the IANA Special-Purpose Address Registries, written
// out again here from the registries' text (not read from the code's table): for every block,
// its first and last address are refused and the addresses just outside it are judged as the
// registry says they are (public, or in a neighbouring block); the IPv6 forms that embed an
// IPv4 address are judged by it; random addresses agree with a plain CIDR oracle.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "intercept/special_address.h"
#include "../test_seed.h"

namespace {

using sekisho::intercept::check_address;
using sekisho::intercept::special_ranges;

struct Block {
  const char* cidr;
  enum { refused, embeds_last_32, embeds_after_16 } rule = refused;
};

// IPv4 Special-Purpose Address Registry (every entry, 2025), multicast 224.0.0.0/4 and class E.
const std::vector<Block> kV4 = {
    {"0.0.0.0/8"},        {"10.0.0.0/8"},      {"100.64.0.0/10"},   {"127.0.0.0/8"},     {"169.254.0.0/16"},
    {"172.16.0.0/12"},    {"192.0.0.0/24"},    {"192.0.2.0/24"},    {"192.31.196.0/24"}, {"192.52.193.0/24"},
    {"192.88.99.0/24"},   {"192.168.0.0/16"},  {"192.175.48.0/24"}, {"198.18.0.0/15"},   {"198.51.100.0/24"},
    {"203.0.113.0/24"},   {"224.0.0.0/4"},     {"240.0.0.0/4"},     {"255.255.255.255/32"},
};

// IPv6 Special-Purpose Address Registry (every entry, 2025; the blocks inside 2001::/23 are
// covered by it), the deprecated site-local and IPv4-compatible forms, multicast, and the
// reserved space outside global unicast 2000::/3.
const std::vector<Block> kV6 = {
    {"::/128"},
    {"::1/128"},
    {"::ffff:0:0/96", Block::embeds_last_32},
    {"::/96"},
    {"64:ff9b::/96", Block::embeds_last_32},
    {"64:ff9b:1::/48"},
    {"100::/64"},
    {"100:0:0:1::/64"},
    {"2001::/23"},
    {"2001::/32"},
    {"2001:1::1/128"},
    {"2001:1::2/128"},
    {"2001:1::3/128"},
    {"2001:2::/48"},
    {"2001:3::/32"},
    {"2001:4:112::/48"},
    {"2001:10::/28"},
    {"2001:20::/28"},
    {"2001:30::/28"},
    {"2001:db8::/32"},
    {"2002::/16", Block::embeds_after_16},
    {"2620:4f:8000::/48"},
    {"3fff::/20"},
    {"5f00::/16"},
    {"fc00::/7"},
    {"fe80::/10"},
    {"fec0::/10"},
    {"ff00::/8"},
    {"::/3"},
    {"4000::/2"},
    {"8000::/1"},
};

using Bytes = std::array<uint8_t, 16>;

struct Parsed {
  int family;
  Bytes net{};
  int bits;
  const Block* block;
};

Parsed parse(const Block& b) {
  std::string text = b.cidr;
  const size_t slash = text.find('/');
  Parsed p{text.find(':') != std::string::npos ? AF_INET6 : AF_INET, {}, std::stoi(text.substr(slash + 1)), &b};
  REQUIRE(inet_pton(p.family, text.substr(0, slash).c_str(), p.net.data()) == 1);
  return p;
}

size_t size_of(int family) { return family == AF_INET ? 4 : 16; }

bool contains(const Parsed& p, int family, const Bytes& a) {
  if (p.family != family) return false;
  for (int i = 0; i < p.bits; ++i) {
    const int byte = i / 8, bit = 7 - i % 8;
    if (((a[byte] >> bit) & 1) != ((p.net[byte] >> bit) & 1)) return false;
  }
  return true;
}

std::vector<Parsed> all_blocks() {
  std::vector<Parsed> out;
  for (const auto* list : {&kV4, &kV6})
    for (const Block& b : *list) out.push_back(parse(b));
  return out;
}

// The oracle: refused when in any block, an embedding block judged by its IPv4 address.
bool oracle_refused(const std::vector<Parsed>& blocks, int family, const Bytes& a) {
  for (const Parsed& p : blocks) {
    if (!contains(p, family, a) || p.block->rule == Block::refused) continue;
    Bytes v4{};
    std::memcpy(v4.data(), a.data() + (p.block->rule == Block::embeds_last_32 ? 12 : 2), 4);
    return oracle_refused(blocks, AF_INET, v4);
  }
  for (const Parsed& p : blocks)
    if (contains(p, family, a)) return true;
  return false;
}

bool code_refused(int family, const Bytes& a) { return check_address(family, a.data()).refused_by != nullptr; }

std::string text_of(int family, const Bytes& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, a.data(), buf, sizeof buf);
  return buf;
}

// The block's first or last address, or the one just before or after it (false at the ends of
// the address space).
bool edge(const Parsed& p, bool last, int step, Bytes& out) {
  out = p.net;
  const int n = static_cast<int>(size_of(p.family));
  for (int i = p.bits; i < n * 8; ++i)
    if (last) out[i / 8] |= static_cast<uint8_t>(1 << (7 - i % 8));
  if (step == 0) return true;
  for (int i = n - 1; i >= 0; --i) {  // add or subtract one, with carry
    if (step > 0 ? out[i]++ != 0xFF : out[i]-- != 0x00) return true;
  }
  return false;  // wrapped
}

Bytes with_v4(const char* v6, const char* v4, size_t at) {
  Bytes a{};
  REQUIRE(inet_pton(AF_INET6, v6, a.data()) == 1);
  REQUIRE(inet_pton(AF_INET, v4, a.data() + at) == 1);
  return a;
}

}  // namespace

TEST_CASE("special addresses: every registry block refused at both ends, its neighbours judged as the registry says") {
  const std::vector<Parsed> blocks = all_blocks();
  for (const Parsed& p : blocks) {
    for (bool last : {false, true}) {
      Bytes inside;
      REQUIRE(edge(p, last, 0, inside));
      // An embedding block's own addresses are judged by the IPv4 they carry: its ends carry
      // 0.0.0.0 and 255.255.255.255, both refused.
      CAPTURE(p.block->cidr);
      CAPTURE(text_of(p.family, inside));
      CHECK(code_refused(p.family, inside));
      Bytes outside;
      if (!edge(p, last, last ? 1 : -1, outside)) continue;
      CAPTURE(text_of(p.family, outside));
      CHECK(code_refused(p.family, outside) == oracle_refused(blocks, p.family, outside));
    }
  }
  // The outside addresses above are mostly public: the test is not vacuous.
  size_t public_neighbours = 0;
  for (const Parsed& p : blocks)
    for (bool last : {false, true}) {
      Bytes outside;
      if (edge(p, last, last ? 1 : -1, outside) && !code_refused(p.family, outside)) ++public_neighbours;
    }
  CHECK(public_neighbours >= 30);
}

TEST_CASE("special addresses: NAT64, 6to4 and IPv4-mapped judged by the IPv4 address they reach") {
  // The metadata service through the NAT64 well-known prefix; loopback through 6to4 and mapped.
  CHECK(code_refused(AF_INET6, with_v4("64:ff9b::", "169.254.169.254", 12)));
  CHECK(code_refused(AF_INET6, with_v4("2002::", "127.0.0.1", 2)));
  CHECK(code_refused(AF_INET6, with_v4("::ffff:0:0", "10.0.0.1", 12)));
  CHECK(code_refused(AF_INET6, with_v4("64:ff9b::", "192.168.1.1", 12)));
  // A public IPv4 address behind them is a public origin.
  CHECK_FALSE(code_refused(AF_INET6, with_v4("64:ff9b::", "93.184.216.34", 12)));
  CHECK_FALSE(code_refused(AF_INET6, with_v4("2002::", "93.184.216.34", 2)));
  CHECK_FALSE(code_refused(AF_INET6, with_v4("::ffff:0:0", "8.8.8.8", 12)));
  // Refused whole, whatever they carry: local-use NAT64, Teredo, IPv4-compatible.
  CHECK(code_refused(AF_INET6, with_v4("64:ff9b:1::", "93.184.216.34", 12)));
  CHECK(code_refused(AF_INET6, with_v4("2001::", "93.184.216.34", 4)));
  CHECK(code_refused(AF_INET6, with_v4("::", "93.184.216.34", 12)));

  const auto check = check_address(AF_INET6, with_v4("64:ff9b::", "169.254.169.254", 12).data());
  REQUIRE(check.embedding != nullptr);
  REQUIRE(check.refused_by != nullptr);
  CHECK(check.embedding->text == "64:ff9b::/96");
  CHECK(check.refused_by->text == "169.254.0.0/16");
}

TEST_CASE("special addresses: the code's table is the registry list above, block for block") {
  std::set<std::string> listed;
  for (const auto* list : {&kV4, &kV6})
    for (const Block& b : *list) listed.insert(b.cidr);
  std::set<std::string> coded;
  for (const auto& r : special_ranges()) {
    coded.insert(std::string(r.text));
    CHECK(listed.count(std::string(r.text)) == 1);  // nothing refused that the registries do not list
  }
  // Blocks the test lists that the code covers through a larger block (inside 2001::/23).
  for (const std::string& b : listed) {
    CAPTURE(b);
    if (coded.count(b)) continue;
    CHECK(b.rfind("2001:", 0) == 0);
    CHECK(code_refused(AF_INET6, [&] {
      Bytes a{};
      REQUIRE(inet_pton(AF_INET6, b.substr(0, b.find('/')).c_str(), a.data()) == 1);
      return a;
    }()));
  }
}

TEST_CASE("special addresses: random addresses agree with the CIDR oracle") {
  const std::vector<Parsed> blocks = all_blocks();
  const uint64_t seed = sekisho::test::test_seed(19);
  INFO(sekisho::test::seed_note(seed));
  std::mt19937_64 rng(seed);
  size_t refused = 0, total = 0;
  for (int i = 0; i < 200000; ++i) {
    const int family = i % 2 ? AF_INET6 : AF_INET;
    Bytes a{};
    for (auto& b : a) b = static_cast<uint8_t>(rng());
    if (family == AF_INET6 && i % 3 == 0) {  // aim at the embedding forms and 2001::/23 too
      static const char* kPrefixes[] = {"64:ff9b::", "2002::", "::ffff:0:0", "2001::", "2001:1ff::", "64:ff9b:1::"};
      Bytes pre{};
      inet_pton(AF_INET6, kPrefixes[(i / 3) % 6], pre.data());
      const size_t keep = (i / 3) % 6 == 1 ? 2 : (i / 3) % 6 >= 3 ? 4 : 12;
      std::memcpy(a.data(), pre.data(), keep);
    }
    const bool expected = oracle_refused(blocks, family, a);
    if (code_refused(family, a) != expected) {
      FAIL_CHECK("disagrees on " << text_of(family, a) << ": oracle says " << (expected ? "refused" : "public"));
    }
    refused += expected;
    ++total;
  }
  CHECK(refused > total / 10);
  CHECK(refused < total * 9 / 10);
}
