// Tests for policy/querylog/make_record: the record of one answered query from the facts the
// engine gathers (resolver/pipeline.cc), field by field.
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "net/address.h"
#include "policy/policy.h"
#include "policy/querylog/make_record.h"

namespace ql = sekisho::querylog;
namespace policy = sekisho::policy;

namespace {

sekisho::net::SocketAddress address(const char* text) {
  std::string why;
  auto a = sekisho::net::parse_socket_address(text, 53, why);
  REQUIRE(a);
  return *a;
}

constexpr uint8_t kName[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
constexpr uint8_t kNxdomain[] = {0x12, 0x34, 0x81, 0x83};  // a header whose RCODE is 3

}  // namespace

TEST_SUITE("policy.querylog.make_record") {

TEST_CASE("make_record: the query's facts become the record's fields") {
  const auto client = address("192.0.2.7:5353");
  ql::QueryFacts f;
  f.answered_us = 1'700'000'000'000'000;
  f.latency_us = 1234;
  f.tenant = 3;
  f.log_mode = ql::LogMode::anonymized;
  f.transport = ql::Transport::dot;
  f.action = ql::QueryAction::cached;
  f.client = &client;
  f.device = "laptop";
  f.qname = kName;
  f.qtype = 28;
  f.answer = kNxdomain;
  const ql::QueryRecord r = ql::make_record(f);
  CHECK(r.time_us == f.answered_us);
  CHECK(r.latency_us == 1234);
  CHECK(r.tenant == 3);
  CHECK(r.log_mode == ql::LogMode::anonymized);
  CHECK(r.transport == ql::Transport::dot);
  CHECK(r.action == ql::QueryAction::cached);
  CHECK(r.client_family == AF_INET);
  CHECK(r.client[0] == 192);
  CHECK(r.client[3] == 7);
  CHECK(std::string(r.device) == "laptop");
  CHECK(r.qname_len == sizeof kName);
  CHECK(std::memcmp(r.qname, kName, sizeof kName) == 0);
  CHECK(r.qtype == 28);
  CHECK(r.rcode == 3);
  CHECK(r.rule == ql::RuleKind::none);  // no verdict: plain resolution
  CHECK(r.categories == sekisho::policy::CategorySet(0));
  CHECK(r.rule_text[0] == '\0');
}

TEST_CASE("make_record: no answer logs RCODE 0, an hour's latency saturates, IPv6 stays IPv6") {
  const auto client = address("[::ffff:192.0.2.7]:53");
  ql::QueryFacts f;
  f.client = &client;
  f.qname = kName;
  f.latency_us = uint64_t{1} << 40;
  const ql::QueryRecord r = ql::make_record(f);
  CHECK(r.rcode == 0);
  CHECK(r.latency_us == UINT32_MAX);
  CHECK(r.client_family == AF_INET6);
  CHECK(r.client[10] == 0xff);
  CHECK(r.client[12] == 192);
  CHECK(r.device[0] == '\0');
}

TEST_CASE("make_record: a verdict gives its rule, categories and rule text; rule none gives nothing") {
  ql::QueryFacts f;
  f.qname = kName;
  const std::string entry = "badsite.example";
  policy::Verdict deny;
  deny.kind = policy::VerdictKind::block;
  deny.rule = policy::RuleKind::deny_list;
  deny.list_entry = &entry;
  f.verdict = &deny;
  ql::QueryRecord r = ql::make_record(f);
  CHECK(r.rule == ql::RuleKind::deny_list);
  CHECK(std::string(r.rule_text) == "badsite.example");
  CHECK(r.categories == sekisho::policy::CategorySet(0));

  policy::CompiledSchedule window;
  window.description = "mon-fri 09:00-18:00 Asia/Tokyo";
  policy::Verdict scheduled;
  scheduled.kind = policy::VerdictKind::block;
  scheduled.rule = policy::RuleKind::schedule;
  scheduled.category = 5;
  scheduled.categories = policy::CategorySet(uint64_t{1} << 9);
  scheduled.schedule = &window;
  f.verdict = &scheduled;
  r = ql::make_record(f);
  CHECK(r.rule == ql::RuleKind::schedule);
  CHECK(r.categories == sekisho::policy::CategorySet(((uint64_t{1} << 9) | (uint64_t{1} << 5))));  // the deciding category among the name's
  CHECK(std::string(r.rule_text) == "mon-fri 09:00-18:00 Asia/Tokyo");

  policy::Verdict safe_search;
  safe_search.rule = policy::RuleKind::safe_search;
  f.verdict = &safe_search;
  r = ql::make_record(f);
  CHECK(r.rule == ql::RuleKind::safe_search);
  CHECK(r.categories == sekisho::policy::CategorySet(0));
  CHECK(r.rule_text[0] == '\0');

  policy::Verdict allowed;  // rule none (a plain resolution): nothing of the verdict is logged
  allowed.rule = policy::RuleKind::none;
  allowed.categories = policy::CategorySet(uint64_t{1} << 9);
  f.verdict = &allowed;
  r = ql::make_record(f);
  CHECK(r.rule == ql::RuleKind::none);
  CHECK(r.categories == sekisho::policy::CategorySet(0));
}

}  // TEST_SUITE
