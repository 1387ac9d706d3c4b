// Tests for policy/querylog/format: the exact JSON line, names, clients, dates, escaping.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "policy/querylog/format.h"
#include "policy/querylog/incident.h"
#include "policy/store/categories.h"

namespace ql = sekisho::querylog;

namespace {

std::vector<uint8_t> wire(std::initializer_list<std::string> labels) {
  std::vector<uint8_t> out;
  for (const auto& l : labels) {
    out.push_back(static_cast<uint8_t>(l.size()));
    out.insert(out.end(), l.begin(), l.end());
  }
  out.push_back(0);
  return out;
}

int64_t at(const char* date, int h, int m, int s, int us) {
  return (*ql::parse_date(date) * 86400 + h * 3600 + m * 60 + s) * int64_t{1000000} + us;
}

// A minimal JSON syntax checker (objects, arrays, strings, numbers, literals): enough to
// prove each line parses, without a JSON library in the unit binary.
struct JsonChecker {
  std::string_view s;
  size_t i = 0;
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool string() {
    if (i >= s.size() || s[i] != '"') return false;
    for (++i; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i >= s.size()) return false;
        const char e = s[i];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k)
            if (++i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
        } else if (!std::strchr("\"\\/bfnrt", e)) {
          return false;
        }
      }
    }
    return false;
  }
  bool number() {
    const size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > start;
  }
  bool value() {
    ws();
    if (i >= s.size()) return false;
    bool ok;
    if (s[i] == '{') {
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') {
        ++i;
        return true;
      }
      for (;;) {
        ws();
        if (!string()) return false;
        ws();
        if (!lit(":") || !value()) return false;
        ws();
        if (lit("}")) return true;
        if (!lit(",")) return false;
      }
    } else if (s[i] == '[') {
      ++i;
      ws();
      if (lit("]")) return true;
      for (;;) {
        if (!value()) return false;
        ws();
        if (lit("]")) return true;
        if (!lit(",")) return false;
      }
    } else if (s[i] == '"') {
      ok = string();
    } else if (lit("null") || lit("true") || lit("false")) {
      ok = true;
    } else {
      ok = number();
    }
    return ok;
  }
};

bool valid_json_line(std::string_view line) {
  if (line.empty() || line.back() != '\n') return false;
  JsonChecker c{line.substr(0, line.size() - 1)};
  return c.value() && c.i == c.s.size();
}

}  // namespace

TEST_CASE("querylog format: the documented line, field for field") {
  ql::QueryRecord r;
  r.time_us = at("2026-11-25", 4, 35, 29, 123456);
  r.latency_us = 123;
  r.tenant = 0;
  r.qtype = 1;
  r.rcode = 0;
  r.transport = ql::Transport::udp;
  r.action = ql::QueryAction::blocked;
  const uint8_t v4[4] = {127, 0, 0, 1};
  ql::set_client_v4(r, v4);
  r.categories = sekisho::policy::CategorySet(uint64_t{1} << sekisho::policy::CategoryRegistry::builtins().by_slug("gambling")->id);
  r.rule = ql::RuleKind::category;
  r.upstream = 0;
  const auto name = wire({"www", "example", "com"});
  ql::set_qname(r, name);

  std::string line;
  ql::append_json_line(line, r, "acme");
  CHECK(line ==
        R"({"time":"2026-11-25T04:35:29.123456Z","tenant":"acme","client":"127.0.0.1","device":"",)"
        R"("name":"www.example.com","type":"A","transport":"udp","action":"blocked",)"
        R"("categories":["gambling"],"rule":"category","rule_text":"","rcode":"NOERROR",)"
        R"("upstream":0,"latency_us":123,"incident":")" +
            ql::incident_id("acme", "127.0.0.1", "www.example.com", ql::utc_minute_of_us(r.time_us)) + "\"}\n");
  CHECK(valid_json_line(line));
}

TEST_CASE("querylog format: every field kind renders as valid JSON") {
  ql::QueryRecord r;
  r.time_us = at("2027-01-01", 0, 0, 0, 5);
  r.qtype = 65;
  r.rcode = 3;
  r.transport = ql::Transport::doh;
  r.action = ql::QueryAction::resolved;
  r.rule = ql::RuleKind::schedule;
  ql::set_text(r.rule_text, "mon-fri 09:00-18:00 \"quoted\" 営業時間");
  ql::set_text(r.device, "taro's\tiPhone");
  r.categories = sekisho::policy::CategorySet((uint64_t{1} << 3) | (uint64_t{1} << 4) | (uint64_t{1} << 63));  // 63: unregistered
  r.upstream = ql::kNoUpstream;
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1};
  ql::set_client_v6(r, v6);
  const std::vector<uint8_t> odd = {3, 'a', '.', 'b', 2, 0x01, ' ', 1, '"', 0};
  ql::set_qname(r, odd);

  std::string line;
  ql::append_json_line(line, r, "tenant \"x\"");
  CHECK(valid_json_line(line));
  CHECK(line.find(R"("time":"2027-01-01T00:00:00.000005Z")") != std::string::npos);
  CHECK(line.find(R"("tenant":"tenant \"x\"")") != std::string::npos);
  CHECK(line.find(R"("client":"2001:db8:1:2::1")") != std::string::npos);
  CHECK(line.find(R"("device":"taro's\tiPhone")") != std::string::npos);
  CHECK(line.find(R"("name":"a\\.b.\\001\\032.\\\"")") != std::string::npos);
  CHECK(line.find(R"("type":"HTTPS")") != std::string::npos);
  CHECK(line.find(R"("transport":"doh")") != std::string::npos);
  CHECK(line.find(R"("categories":["malware","phishing","#63"])") != std::string::npos);
  CHECK(line.find(R"("rule":"schedule","rule_text":"mon-fri 09:00-18:00 \"quoted\" 営業時間")") !=
        std::string::npos);
  CHECK(line.find(R"("rcode":"NXDOMAIN","upstream":null,"latency_us":0})") != std::string::npos);
}

TEST_CASE("querylog format: anonymized clients are truncated to /24 and /48") {
  ql::QueryRecord r;
  const uint8_t v4[4] = {192, 0, 2, 77};
  ql::set_client_v4(r, v4);
  CHECK(ql::client_text(r, false) == "192.0.2.77");
  CHECK(ql::client_text(r, true) == "192.0.2.0");

  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};
  ql::set_client_v6(r, v6);
  CHECK(ql::client_text(r, false) == "2001:db8:abcd:1234::beef");
  CHECK(ql::client_text(r, true) == "2001:db8:abcd::");

  r.log_mode = ql::LogMode::anonymized;
  std::string line;
  ql::append_json_line(line, r, "t");
  CHECK(line.find(R"("client":"2001:db8:abcd::")") != std::string::npos);
  CHECK(line.find("beef") == std::string::npos);

  r.client_family = 0;
  CHECK(ql::client_text(r, false).empty());
}

TEST_CASE("querylog format: names") {
  auto name = [](const std::vector<uint8_t>& w) {
    std::string out;
    ql::append_presentation_name(out, w.data(), w.size());
    return out;
  };
  CHECK(name(wire({"www", "example", "com"})) == "www.example.com");
  CHECK(name({0}) == ".");
  CHECK(name({}) == "");
  CHECK(name({3, 'a', 'b', 'c', 9, 'x'}) == "abc");  // label overruns: stop, keep what is sound
  CHECK(name({1, 0xff, 1, '\\', 0}) == "\\255.\\\\");
}

TEST_CASE("querylog format: type, rcode, action and rule names") {
  CHECK(ql::qtype_name(1) == "A");
  CHECK(ql::qtype_name(28) == "AAAA");
  CHECK(ql::qtype_name(64) == "SVCB");
  CHECK(ql::qtype_name(255) == "ANY");
  CHECK(ql::qtype_name(123) == "TYPE123");
  CHECK(ql::rcode_name(2) == "SERVFAIL");
  CHECK(ql::rcode_name(5) == "REFUSED");
  CHECK(ql::rcode_name(12) == "RCODE12");
  CHECK(ql::action_name(ql::QueryAction::stale) == "stale");
  CHECK(ql::action_name(ql::QueryAction::malformed) == "malformed");
  CHECK(ql::rule_name(ql::RuleKind::safe_search) == "safe_search");
  CHECK(ql::transport_name(ql::Transport::dot) == "dot");
}

TEST_CASE("querylog format: UTC dates") {
  CHECK(ql::date_text(0) == "1970-01-01");
  CHECK(ql::parse_date("1970-01-01") == 0);
  CHECK(ql::parse_date("2026-11-25").has_value());
  CHECK(ql::date_text(*ql::parse_date("2028-02-29")) == "2028-02-29");
  CHECK_FALSE(ql::parse_date("2027-02-29").has_value());
  CHECK_FALSE(ql::parse_date("2026-1-25").has_value());
  CHECK_FALSE(ql::parse_date("2026-11-2x").has_value());
  const int64_t midnight = at("2026-11-25", 0, 0, 0, 0);
  CHECK(ql::utc_day(midnight) == *ql::parse_date("2026-11-25"));
  CHECK(ql::utc_day(midnight - 1) == *ql::parse_date("2026-11-24"));
  CHECK(ql::utc_day(-1) == -1);
  std::string t;
  ql::append_time(t, midnight - 1);
  CHECK(t == "2026-11-24T23:59:59.999999Z");
  // Back and forth across midnight and far dates: the remembered day's text must follow.
  const std::pair<int64_t, const char*> times[] = {
      {midnight, "2026-11-25T00:00:00.000000Z"},     {midnight - 1, "2026-11-24T23:59:59.999999Z"},
      {midnight + 1, "2026-11-25T00:00:00.000001Z"}, {-1, "1969-12-31T23:59:59.999999Z"},
      {midnight, "2026-11-25T00:00:00.000000Z"},
  };
  for (const auto& [us, text] : times) {
    t.clear();
    ql::append_time(t, us);
    CHECK(t == text);
  }
}

TEST_CASE("querylog format: JSON escaping keeps lines valid whatever the bytes") {
  std::string out;
  ql::append_json_escaped(out, std::string_view("a\x01\n\"\\b", 6));
  CHECK(out == "a\\u0001\\n\\\"\\\\b");
  out.clear();
  ql::append_json_escaped(out, "日本");
  CHECK(out == "日本");
  out.clear();
  ql::append_json_escaped(out, std::string_view("x\xff\xc3(\xed\xa0\x80y", 8));  // invalid, overlong, surrogate
  CHECK(out == "x\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffdy");
}

// The writer formats with hand-written digits and a stack buffer (format.cc); these pin whole
// lines byte for byte, including the incident ID, whose values were computed with the original
// std::to_string / snprintf implementation: files written before and after must agree.
TEST_CASE("querylog format: exact line for an IPv4 block, incident pinned") {
  ql::QueryRecord r;
  r.time_us = int64_t{1'764'000'000} * 1000000 + 123456;  // 2025-11-24T16:00:00.123456Z, minute 29400000
  r.latency_us = 4294967295u;
  r.tenant = 0;
  r.qtype = 28;
  r.rcode = 0;
  r.transport = ql::Transport::tcp;
  r.action = ql::QueryAction::blocked;
  const uint8_t v4[4] = {127, 0, 0, 1};
  ql::set_client_v4(r, v4);
  r.categories = sekisho::policy::CategorySet(uint64_t{1} << sekisho::policy::CategoryRegistry::builtins().by_slug("malware")->id);
  r.rule = ql::RuleKind::category;
  r.upstream = 255 - 1;
  ql::set_qname(r, wire({"www", "example", "com"}));

  std::string line = "previous line\n";  // appended to, never overwritten
  ql::append_json_line(line, r, "acme");
  CHECK(line ==
        "previous line\n"
        R"({"time":"2025-11-24T16:00:00.123456Z","tenant":"acme","client":"127.0.0.1","device":"",)"
        R"("name":"www.example.com","type":"AAAA","transport":"tcp","action":"blocked",)"
        R"("categories":["malware"],"rule":"category","rule_text":"","rcode":"NOERROR",)"
        R"("upstream":254,"latency_us":4294967295,"incident":"07D43-1F2BF"})"
        "\n");
}

TEST_CASE("querylog format: the line's name is the presentation name JSON-escaped, for every byte") {
  // The line writes the name's JSON form in one pass (format.cc put_name<true>); it must equal
  // escaping the presentation text, which the block page's incident ID and the reports use.
  for (int b = 0; b < 256; ++b) {
    ql::QueryRecord r;
    r.time_us = 1;
    const std::vector<uint8_t> wire = {4, 'a', static_cast<uint8_t>(b), '"', 'z', 3, 'c', 'o', 'm', 0};
    ql::set_qname(r, wire);
    std::string line;
    ql::append_json_line(line, r, "t");
    const size_t from = line.find("\"name\":\"") + 8;
    const size_t to = line.find("\",\"type\":\"", from);
    REQUIRE(to != std::string::npos);
    std::string expected;
    ql::append_json_escaped(expected, ql::presentation_name(r));
    CHECK_MESSAGE(line.substr(from, to - from) == expected, "byte " << b);
    CHECK(valid_json_line(line));
  }
}

TEST_CASE("querylog format: exact line for odd names, odd texts and an anonymized IPv6 client") {
  ql::QueryRecord r;
  r.time_us = -5 * int64_t{60000000} + 7;  // 1969-12-31T23:55:00.000007Z, minute -5
  r.latency_us = 0;
  r.qtype = 4242;
  r.rcode = 13;
  r.transport = ql::Transport::dot;
  r.action = ql::QueryAction::blocked;
  r.log_mode = ql::LogMode::anonymized;
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};
  ql::set_client_v6(r, v6);
  const std::vector<uint8_t> name = {3, 'a', '.', 'b', 0};  // a label holding a dot
  ql::set_qname(r, name);
  r.rule = ql::RuleKind::deny_list;
  ql::set_text(r.rule_text, std::string_view("x\x01\x7f\xff\"\\y", 7));
  ql::set_text(r.device, "pc\n");
  r.categories = sekisho::policy::CategorySet((uint64_t{1} << 62) | (uint64_t{1} << 63));  // unregistered ids

  std::string line;
  ql::append_json_line(line, r, "t");
  CHECK(line ==
        R"({"time":"1969-12-31T23:55:00.000007Z","tenant":"t","client":"2001:db8:abcd::","device":"pc\n",)"
        R"("name":"a\\.b","type":"TYPE4242","transport":"dot","action":"blocked",)"
        R"("categories":["#62","#63"],"rule":"deny_list","rule_text":"x\u0001)"
        "\x7f"
        R"(\ufffd\"\\y","rcode":"RCODE13","upstream":null,"latency_us":0,"incident":"18A30-5AAF7"})"
        "\n");
  CHECK(valid_json_line(line));
}

TEST_CASE("querylog format: pieces longer than the line buffer are escaped whole") {
  // 3,000 quotes escape to 6,000 characters, more than the 4 KiB stack buffer holds at once.
  const std::string tenant = std::string(3000, '"') + "\x01" + "日本" + std::string(1500, 'z');
  std::string expected_tenant;
  for (int i = 0; i < 3000; ++i) expected_tenant += "\\\"";
  expected_tenant += "\\u0001日本" + std::string(1500, 'z');
  ql::QueryRecord r;
  ql::set_qname(r, wire({"example"}));
  std::string line;
  ql::append_json_line(line, r, tenant);
  CHECK(line.find("\"tenant\":\"" + expected_tenant + "\",\"client\":\"\"") != std::string::npos);
  CHECK(valid_json_line(line));
  std::string escaped;
  ql::append_json_escaped(escaped, tenant);
  CHECK(escaped == expected_tenant);
}

TEST_CASE("querylog format: the longest presentation name fits its buffer") {
  // 3 labels of 63 octets and one of 61, every octet non-printable: 255 wire octets, and
  // 250 × "\DDD" plus 3 dots in presentation.
  std::vector<uint8_t> w;
  for (size_t len : {63, 63, 63, 61}) {
    w.push_back(static_cast<uint8_t>(len));
    w.insert(w.end(), len, 0x00);
  }
  w.push_back(0);
  REQUIRE(w.size() == 255);
  char out[ql::kMaxPresentationName];
  const size_t n = ql::write_presentation_name(out, w.data(), w.size());
  CHECK(n == 250 * 4 + 3);
  std::string expected;
  for (size_t len : {63, 63, 63, 61}) {
    if (!expected.empty()) expected += '.';
    for (size_t k = 0; k < len; ++k) expected += "\\000";
  }
  CHECK(std::string_view(out, n) == expected);
}

TEST_CASE("querylog format: dates outside four-digit years keep their old spelling") {
  CHECK(ql::date_text(-1) == "1969-12-31");
  CHECK(ql::date_text(2932897) == "10000-01-01");
  char out[ql::kMaxClientText];
  ql::QueryRecord r;
  const uint8_t v4[4] = {0, 10, 100, 255};
  ql::set_client_v4(r, v4);
  CHECK(std::string_view(out, ql::write_client_text(out, r, false)) == "0.10.100.255");
  CHECK(std::string_view(out, ql::write_client_text(out, r, true)) == "0.10.100.0");
}

// The escaper reads eight plain bytes at a time: a byte that needs care must be caught at any
// position of such a word, and at the word's edges.
TEST_CASE("querylog format: escapes at every offset of the eight-byte fast path") {
  const std::pair<std::string, std::string> specials[] = {
      {"\"", "\\\""}, {"\\", "\\\\"}, {"\x01", "\\u0001"}, {"\x1f", "\\u001f"}, {"\n", "\\n"},
      {"\x7f", "\x7f"}, {" ", " "}, {"\xc3\xa9", "\xc3\xa9"}, {"\xff", "\\ufffd"}, {"\xe6\x97", "\\ufffd\\ufffd"}};
  for (const auto& special : specials) {
    // Not a structured binding: the message below captures it in a lambda, which clang (the ASan
    // tree's compiler) accepts only from version 16.
    const std::string& in = special.first;
    const std::string& want = special.second;
    for (size_t k = 0; k <= 17; ++k) {
      const std::string text = std::string(k, 'a') + in + std::string(9, 'b');
      std::string out;
      ql::append_json_escaped(out, text);
      CHECK_MESSAGE(out == std::string(k, 'a') + want + std::string(9, 'b'), "offset ", k, " of ", want);
    }
  }
}

// The writer keeps "how it went" (type … rcode) per thread and copies it when it recurs: every
// line must equal the line a thread with nothing kept formats, whatever came before it.
TEST_CASE("querylog format: kept stretches give the lines a fresh thread formats") {
  std::vector<ql::QueryRecord> records;
  uint64_t seed = 7;
  auto next = [&seed] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 33; };
  const char* rule_texts[] = {"", "", "badsite.example", "*.partner.example", "mon-fri 09:00-18:00"};
  for (int i = 0; i < 3000; ++i) {
    ql::QueryRecord r;
    r.time_us = at("2026-12-07", 1, 2, 3, static_cast<int>(next() % 1000000));
    r.tenant = 0;
    r.qtype = static_cast<uint16_t>(std::initializer_list<int>{1, 28, 65, 16, 99}.begin()[next() % 5]);
    r.rcode = static_cast<uint8_t>(next() % 3 == 0 ? 3 : 0);
    r.transport = static_cast<ql::Transport>(next() % 4);
    r.action = static_cast<ql::QueryAction>(next() % 4);
    r.categories = sekisho::policy::CategorySet(next() % 3 == 0 ? 0 : (uint64_t{1} << (next() % 12)) | (uint64_t{1} << (next() % 12)));
    r.rule = static_cast<ql::RuleKind>(next() % 4);
    ql::set_text(r.rule_text, rule_texts[next() % 5]);
    const uint8_t v4[4] = {10, 0, static_cast<uint8_t>(next() % 4), static_cast<uint8_t>(next())};
    ql::set_client_v4(r, v4);
    ql::set_qname(r, wire({"n" + std::to_string(next() % 50), "example"}));
    records.push_back(r);
  }
  std::string warm;
  for (const auto& r : records) ql::append_json_line(warm, r, "acme");
  // Formatted again, each on a new thread: nothing kept.
  std::string cold;
  for (const auto& r : records) std::thread([&] { ql::append_json_line(cold, r, "acme"); }).join();
  CHECK(warm == cold);

  // A slug renamed by a categories reload shows up in the next line, not the kept text.
  ql::QueryRecord r = records[0];
  r.categories = sekisho::policy::CategorySet(uint64_t{1} << 40);
  auto define = [](const char* slug) {
    sekisho::policy::CategoryDefinition d;
    d.id = 40;
    d.slug = slug;
    d.name_en = d.name_ja = slug;
    return std::make_shared<const sekisho::policy::CategoryRegistry>(std::vector{d});
  };
  const auto first = define("first-name");
  std::string a;
  ql::append_json_line(a, r, "acme", *first);
  const auto second = define("second-name");
  std::string b;
  ql::append_json_line(b, r, "acme", *second);
  CHECK(a.find("\"categories\":[\"first-name\"]") != std::string::npos);
  CHECK(b.find("\"categories\":[\"second-name\"]") != std::string::npos);
}
