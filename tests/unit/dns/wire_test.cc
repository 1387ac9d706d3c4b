// dns/wire: question reading, name skipping/expansion, record walking, name helpers.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dns/wire.h"
#include "tests/unit/dns/dns_builder.h"

using namespace sekisho;
using sekisho_test::Msg;
using sekisho_test::wire_name;

namespace {

std::string bytes_str(const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

std::string to_text(std::span<const uint8_t> wire, size_t cap = 1024) {
  std::vector<char> buf(cap + 8, '#');
  size_t n = dns::name_to_text(wire.data(), wire.size(), buf.data(), cap);
  REQUIRE(n <= cap);
  return std::string(buf.data(), n);
}

}  // namespace

TEST_SUITE("resolver.wire") {

TEST_CASE("read_header decodes all six fields") {
  Msg m;
  m.header(0xBEEF, 0x8180, 1, 2, 3, 4);
  dns::Header h = dns::read_header(m.span());
  CHECK(h.id == 0xBEEF);
  CHECK(h.flags == 0x8180);
  CHECK(h.qdcount == 1);
  CHECK(h.ancount == 2);
  CHECK(h.nscount == 3);
  CHECK(h.arcount == 4);
  CHECK(h.qr());
  CHECK_FALSE(h.tc());
  CHECK(h.opcode() == dns::Opcode::query);
  m.b[2] = 0x22;  // opcode 4 (NOTIFY), TC
  m.b[3] = 0x03;  // rcode 3
  h = dns::read_header(m.span());
  CHECK(h.opcode() == dns::Opcode::notify);
  CHECK(h.rcode() == dns::Rcode::nxdomain);
  CHECK(h.tc());
  CHECK_FALSE(h.qr());
}

TEST_CASE("read_question keeps case, lowercases the copy and counts labels") {
  Msg m;
  m.header(1, 0x0100, 1).question("WwW.ExAmPle.COM", 28, 1);
  size_t pos = dns::kHeaderSize;
  dns::Question q;
  REQUIRE(dns::read_question(m.span(), pos, q));
  CHECK(pos == m.size());
  const auto expect_case = wire_name("WwW.ExAmPle.COM");
  const auto expect_lower = wire_name("www.example.com");
  CHECK(q.qname_len == expect_case.size());
  CHECK(q.qname_len == 17);
  CHECK(bytes_str(q.qname, q.qname_len) == bytes_str(expect_case.data(), expect_case.size()));
  CHECK(bytes_str(q.qname_lower, q.qname_len) == bytes_str(expect_lower.data(), expect_lower.size()));
  CHECK(q.label_count == 3);
  CHECK(q.qtype == 28);
  CHECK(q.qclass == 1);
}

TEST_CASE("read_question: root name and non-letter bytes are not lowercased") {
  SUBCASE("root") {
    Msg m;
    m.header(1, 0, 1).u8(0).u16(2).u16(1);
    size_t pos = 12;
    dns::Question q;
    REQUIRE(dns::read_question(m.span(), pos, q));
    CHECK(q.qname_len == 1);
    CHECK(q.label_count == 0);
    CHECK(q.qtype == 2);
    CHECK(pos == m.size());
  }
  SUBCASE("bytes around the letter range stay as they are") {
    Msg m;
    m.header(1, 0, 1).raw({4, '@', '[', 'Z', 0xC1, 0}).u16(1).u16(1);  // '@'=0x40, '['=0x5B, 0xC1 is not ASCII
    size_t pos = 12;
    dns::Question q;
    REQUIRE(dns::read_question(m.span(), pos, q));
    CHECK(q.qname_lower[1] == '@');
    CHECK(q.qname_lower[2] == '[');
    CHECK(q.qname_lower[3] == 'z');
    CHECK(q.qname_lower[4] == 0xC1);
  }
}

TEST_CASE("read_question does not advance pos on failure and reads at a non-header offset") {
  Msg m;
  m.raw({0xAA, 0xBB, 0xCC}).question("a.b", 1, 1);
  size_t pos = 3;
  dns::Question q;
  REQUIRE(dns::read_question(m.span(), pos, q));
  CHECK(pos == m.size());
  CHECK(q.label_count == 2);

  Msg bad;
  bad.header(1, 0, 1).raw({0xC0, 0x0C}).u16(1).u16(1);
  size_t bad_pos = 12;
  CHECK_FALSE(dns::read_question(bad.span(), bad_pos, q));
  CHECK(bad_pos == 12);
}

TEST_CASE("read_question rejects compression pointers and reserved label types") {
  dns::Question q;
  SUBCASE("pointer as the whole name") {
    Msg m;
    m.header(1, 0, 1).raw({0xC0, 0x0C}).u16(1).u16(1);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
  SUBCASE("pointer after a label") {
    Msg m;
    m.header(1, 0, 1).raw({3, 'w', 'w', 'w', 0xC0, 0x0C}).u16(1).u16(1);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
  // The bytes after the type byte would make a well-formed label if the top bits were ignored
  // (0x41 → 65 bytes, 0x81 → 129 bytes), so only the type check can reject these.
  SUBCASE("0x40 extended label type") {
    Msg m;
    m.header(1, 0, 1).u8(0x41).raw(std::vector<uint8_t>(0x41, 'a')).u8(0).u16(1).u16(1);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
  SUBCASE("0x80 reserved label type") {
    Msg m;
    m.header(1, 0, 1).u8(0x81).raw(std::vector<uint8_t>(0x81, 'a')).u8(0).u16(1).u16(1);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
}

TEST_CASE("read_question enforces the 255-byte name limit exactly") {
  const std::string l63(63, 'a');
  const std::string l61(61, 'b');
  const std::string l62(62, 'b');
  dns::Question q;
  SUBCASE("255 bytes is accepted") {
    Msg m;
    m.header(1, 0, 1).question(l63 + "." + l63 + "." + l63 + "." + l61);
    REQUIRE(m.size() == 12 + 255 + 4);
    size_t pos = 12;
    REQUIRE(dns::read_question(m.span(), pos, q));
    CHECK(q.qname_len == 255);
    CHECK(q.label_count == 4);
  }
  SUBCASE("256 bytes is rejected") {
    Msg m;
    m.header(1, 0, 1).question(l63 + "." + l63 + "." + l63 + "." + l62);
    REQUIRE(m.size() == 12 + 256 + 4);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
  SUBCASE("many short labels past 255 are rejected") {
    Msg m;
    m.header(1, 0, 1);
    for (int i = 0; i < 130; ++i) m.raw({1, 'x'});  // 260 bytes before the root
    m.u8(0).u16(1).u16(1);
    size_t pos = 12;
    CHECK_FALSE(dns::read_question(m.span(), pos, q));
  }
}

TEST_CASE("read_question fails on truncation at every byte offset of a valid query") {
  Msg m;
  m.header(7, 0x0100, 1).question("www.example.com", 1, 1);
  const auto full = m.span();
  for (size_t len = 0; len < full.size(); ++len) {
    CAPTURE(len);
    size_t pos = 12;
    dns::Question q;
    if (len < 12) continue;  // precondition of read_header; read_question itself is still checked below
    CHECK_FALSE(dns::read_question(full.first(len), pos, q));
    CHECK(pos == 12);
  }
  size_t pos = 12;
  dns::Question q;
  CHECK(dns::read_question(full, pos, q));
}

TEST_CASE("skip_name handles plain names, pointers and bad input") {
  SUBCASE("plain name") {
    Msg m;
    m.name("a.bc").u16(1);
    size_t pos = 0;
    REQUIRE(dns::skip_name(m.span(), pos));
    CHECK(pos == 6);
  }
  SUBCASE("a pointer ends the name after two bytes") {
    Msg m;
    m.raw({3, 'w', 'w', 'w', 0xC0, 0x00, 0xEE});
    size_t pos = 0;
    REQUIRE(dns::skip_name(m.span(), pos));
    CHECK(pos == 6);
  }
  SUBCASE("half a pointer at the end") {
    Msg m;
    m.raw({3, 'w', 'w', 'w', 0xC0});
    size_t pos = 0;
    CHECK_FALSE(dns::skip_name(m.span(), pos));
    CHECK(pos == 0);
  }
  SUBCASE("label running off the end") {
    Msg m;
    m.raw({5, 'a', 'b'});
    size_t pos = 0;
    CHECK_FALSE(dns::skip_name(m.span(), pos));
  }
  SUBCASE("missing root label") {
    Msg m;
    m.raw({1, 'a'});
    size_t pos = 0;
    CHECK_FALSE(dns::skip_name(m.span(), pos));
  }
  SUBCASE("0x40 / 0x80 label types") {
    for (uint8_t t : {uint8_t{0x40}, uint8_t{0x80}}) {
      Msg m;
      m.u8(static_cast<uint8_t>(t | 1)).raw(std::vector<uint8_t>(t | 1, 'a')).u8(0);
      size_t pos = 0;
      CHECK_FALSE(dns::skip_name(m.span(), pos));
    }
  }
  SUBCASE("over 255 bytes") {
    Msg m;
    for (int i = 0; i < 130; ++i) m.raw({1, 'x'});
    m.u8(0);
    size_t pos = 0;
    CHECK_FALSE(dns::skip_name(m.span(), pos));
  }
  SUBCASE("pos at the end") {
    Msg m;
    m.raw({0});
    size_t pos = 1;
    CHECK_FALSE(dns::skip_name(m.span(), pos));
  }
}

TEST_CASE("expand_name follows backward pointers and lowercases") {
  // 12: Example.COM  then  www + pointer to 12
  Msg m;
  m.header(1, 0x8000, 0).name("Example.COM");
  const size_t second = m.size();
  m.raw({3, 'W', 'w', 'W', 0xC0, 0x0C});
  uint8_t out[dns::kMaxNameWire];
  size_t len = 0;
  REQUIRE(dns::expand_name(m.span(), second, out, len));
  const auto expect = wire_name("www.example.com");
  CHECK(len == expect.size());
  CHECK(bytes_str(out, len) == bytes_str(expect.data(), expect.size()));

  // A pointer to a pointer.
  const size_t third = m.size();
  m.raw({0xC0, static_cast<uint8_t>(second)});
  REQUIRE(dns::expand_name(m.span(), third, out, len));
  CHECK(bytes_str(out, len) == bytes_str(expect.data(), expect.size()));
}

TEST_CASE("expand_name rejects forward pointers, self pointers and loops") {
  uint8_t out[dns::kMaxNameWire];
  size_t len = 0;
  SUBCASE("forward pointer") {
    Msg m;
    m.header(1, 0, 0).raw({0xC0, 14, 0});  // at 12, points to 14 (a root label after it)
    CHECK_FALSE(dns::expand_name(m.span(), 12, out, len));
  }
  SUBCASE("pointer to itself") {
    Msg m;
    m.header(1, 0, 0).raw({0xC0, 12});
    CHECK_FALSE(dns::expand_name(m.span(), 12, out, len));
  }
  SUBCASE("two pointers pointing at each other") {
    Msg m;
    m.header(1, 0, 0).raw({0xC0, 14, 0xC0, 12});
    CHECK_FALSE(dns::expand_name(m.span(), 14, out, len));
    CHECK_FALSE(dns::expand_name(m.span(), 12, out, len));
  }
  SUBCASE("label then pointer back into its own name") {
    Msg m;
    m.header(1, 0, 0).raw({1, 'a', 0xC0, 12});
    CHECK_FALSE(dns::expand_name(m.span(), 12, out, len));
  }
  SUBCASE("pointer beyond the message") {
    Msg m;
    m.header(1, 0, 0).u8(0).raw({0xC0, 0xFF});
    CHECK_FALSE(dns::expand_name(m.span(), 13, out, len));
  }
  SUBCASE("truncated pointer") {
    Msg m;
    m.header(1, 0, 0).u8(0xC0);
    CHECK_FALSE(dns::expand_name(m.span(), 12, out, len));
  }
}

TEST_CASE("expand_name bounds: 255 bytes after expansion and 127 pointers") {
  uint8_t out[dns::kMaxNameWire];
  size_t len = 0;
  auto long_name = [](size_t first) {
    // 12: one `first`-byte label; then three 63-byte labels and a pointer back to it, which
    // expand to 3*64 + first + 2 bytes.
    Msg m;
    m.header(1, 0, 0).name(std::string(first, 'a'));
    const size_t tail = m.size();
    for (int i = 0; i < 3; ++i) {
      m.u8(63);
      m.raw(std::vector<uint8_t>(63, 'b'));
    }
    m.raw({0xC0, 12});
    return std::make_pair(m, tail);
  };
  SUBCASE("expansion past 255 bytes is rejected") {
    auto [m, tail] = long_name(63);  // 3*64 + 65 = 257
    CHECK_FALSE(dns::expand_name(m.span(), tail, out, len));
  }
  SUBCASE("exactly 255 bytes after expansion is accepted") {
    auto [m, tail] = long_name(61);  // 3*64 + 63 = 255
    REQUIRE(dns::expand_name(m.span(), tail, out, len));
    CHECK(len == 255);
  }
  auto chain = [](int pointers) {
    // 12: root; then `pointers` pointers, each to the one before it.
    Msg m;
    m.header(1, 0, 0).u8(0);
    size_t prev = 12;
    for (int i = 0; i < pointers; ++i) {
      size_t here = m.size();
      m.u16(static_cast<uint16_t>(0xC000 | prev));
      prev = here;
    }
    return std::make_pair(m, prev);
  };
  SUBCASE("127 pointers are followed") {
    auto [m, start] = chain(127);
    REQUIRE(dns::expand_name(m.span(), start, out, len));
    CHECK(len == 1);
  }
  SUBCASE("128 pointers are too many") {
    auto [m, start] = chain(128);
    CHECK_FALSE(dns::expand_name(m.span(), start, out, len));
  }
}

TEST_CASE("walk_record reads fixed fields and checks bounds") {
  Msg m;
  m.header(1, 0x8000, 0, 1).rr("example.com", 1, 3600, std::vector<uint8_t>{192, 0, 2, 7});
  const size_t start = 12;
  size_t pos = start;
  dns::RecordView rr;
  REQUIRE(dns::walk_record(m.span(), pos, rr));
  CHECK(rr.name_pos == 12);
  CHECK(rr.type_pos == 12 + 13);
  CHECK(rr.type == 1);
  CHECK(rr.rclass == 1);
  CHECK(rr.ttl == 3600);
  CHECK(rr.rdlength == 4);
  CHECK(rr.rdata_pos == 12 + 13 + 10);
  CHECK(rr.end == m.size());
  CHECK(pos == m.size());
  CHECK(m.b[rr.rdata_pos + 3] == 7);

  SUBCASE("every truncation fails") {
    for (size_t len = start; len < m.size(); ++len) {
      CAPTURE(len);
      size_t p = start;
      dns::RecordView r2;
      CHECK_FALSE(dns::walk_record(m.span().first(len), p, r2));
      CHECK(p == start);
    }
  }
  SUBCASE("rdlength one past the end") {
    m.b[m.size() - 5] = 5;  // rdlength low byte
    size_t p = start;
    CHECK_FALSE(dns::walk_record(m.span(), p, rr));
  }
  SUBCASE("compressed owner") {
    Msg c;
    c.header(1, 0x8000, 1, 1).question("a.example").a_ptr(0xFFFFFFFFu);
    size_t p = 12;
    dns::Question q;
    REQUIRE(dns::read_question(c.span(), p, q));
    const size_t rr_start = p;
    REQUIRE(dns::walk_record(c.span(), p, rr));
    CHECK(rr.name_pos == rr_start);
    CHECK(rr.type_pos == rr_start + 2);
    CHECK(rr.ttl == 0xFFFFFFFFu);
    CHECK(p == c.size());
  }
}

TEST_CASE("names_equal_ci") {
  const auto a = wire_name("WWW.Example.COM");
  const auto b = wire_name("www.example.com");
  const auto c = wire_name("www.example.org");
  const auto d = wire_name("www.example.co");
  CHECK(dns::names_equal_ci(a.data(), a.size(), b.data(), b.size()));
  CHECK(dns::names_equal_ci(b.data(), b.size(), a.data(), a.size()));
  CHECK_FALSE(dns::names_equal_ci(a.data(), a.size(), c.data(), c.size()));
  CHECK_FALSE(dns::names_equal_ci(a.data(), a.size(), d.data(), d.size()));
  // Only A-Z fold: '@' (0x40) vs '`' (0x60) and '[' (0x5B) vs '{' (0x7B) differ by 0x20 but are not letters.
  const uint8_t at[] = {1, '@', 0};
  const uint8_t grave[] = {1, '`', 0};
  const uint8_t lb[] = {1, '[', 0};
  const uint8_t lc[] = {1, '{', 0};
  CHECK_FALSE(dns::names_equal_ci(at, 3, grave, 3));
  CHECK_FALSE(dns::names_equal_ci(lb, 3, lc, 3));
  // Label boundaries matter: "ab.c" vs "a.bc" have the same length but differ.
  const auto e = wire_name("ab.c");
  const auto f = wire_name("a.bc");
  CHECK_FALSE(dns::names_equal_ci(e.data(), e.size(), f.data(), f.size()));
}

TEST_CASE("name_to_text renders presentation format with escapes") {
  CHECK(to_text(wire_name("www.Example.com")) == "www.Example.com.");
  CHECK(to_text(wire_name(".")) == ".");
  const std::vector<uint8_t> empty;
  CHECK(to_text(empty) == ".");
  const std::vector<uint8_t> dot = {3, 'a', '.', 'b', 0};
  CHECK(to_text(dot) == "a\\.b.");
  const std::vector<uint8_t> backslash = {1, '\\', 0};
  CHECK(to_text(backslash) == "\\\\.");
  const std::vector<uint8_t> specials = {5, ';', '(', ')', '"', '$', 0};
  CHECK(to_text(specials) == "\\;\\(\\)\"$.");
  const std::vector<uint8_t> odd = {4, ' ', 0x00, 0x7f, 0xff, 2, 'o', 'k', 0};
  CHECK(to_text(odd) == "\\032\\000\\127\\255.ok.");
}

TEST_CASE("name_to_text never writes past cap") {
  const auto w = wire_name("www.example.com");  // "www.example.com." is 16 chars
  for (size_t cap = 0; cap <= 20; ++cap) {
    CAPTURE(cap);
    std::vector<char> buf(cap + 4, '#');
    size_t n = dns::name_to_text(w.data(), w.size(), buf.data(), cap);
    CHECK(n == std::min<size_t>(cap, 16));
    for (size_t i = cap; i < buf.size(); ++i) CHECK(buf[i] == '#');
    CHECK(std::string(buf.data(), n) == std::string("www.example.com.").substr(0, n));
  }
}

}  // TEST_SUITE
