// Unit tests for the compiled policy pieces: tenant networks, allow/deny lists, schedules with
// time zones, safe-search targets, and compile errors with their file:line.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "config/yaml/load.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/policy.h"
#include "policy/safe_search.h"
#include "policy/tenants.h"
#include "policy/timezone.h"
#include "tests/unit/utc_time.h"

using namespace sekisho;
using namespace sekisho::policy;
using sekisho::test::utc;

namespace {

std::string wire(std::string_view name) { return to_wire(name); }
const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

uint16_t find_v4(const TenantTable& t, const char* addr) {
  in_addr a{};
  inet_pton(AF_INET, addr, &a);
  return t.find(AF_INET, reinterpret_cast<const uint8_t*>(&a));
}

void add_v4(TenantTableBuilder& t, const char* addr, uint8_t prefix, uint16_t tenant) {
  in_addr a{};
  inet_pton(AF_INET, addr, &a);
  REQUIRE(t.add(AF_INET, reinterpret_cast<const uint8_t*>(&a), prefix, tenant, nullptr));
}

}  // namespace

TEST_CASE("tenant table: longest prefix wins, IPv4-mapped IPv6 is looked up as IPv4") {
  TenantTableBuilder b;
  add_v4(b, "0.0.0.0", 0, 0);
  add_v4(b, "10.1.0.0", 16, 1);
  add_v4(b, "10.1.2.0", 24, 2);
  const TenantTable t = b.build();
  CHECK(find_v4(t, "10.1.2.3") == 2);
  CHECK(find_v4(t, "10.1.3.3") == 1);
  CHECK(find_v4(t, "192.0.2.1") == 0);
  in6_addr mapped{};
  inet_pton(AF_INET6, "::ffff:10.1.2.9", &mapped);
  CHECK(t.find(AF_INET6, reinterpret_cast<const uint8_t*>(&mapped)) == 2);
  in6_addr v6{};
  inet_pton(AF_INET6, "2001:db8::1", &v6);
  CHECK(t.find(AF_INET6, reinterpret_cast<const uint8_t*>(&v6)) == kNoTenant);
  in_addr dup{};
  inet_pton(AF_INET, "10.1.0.0", &dup);
  uint16_t existing = kNoTenant;
  CHECK_FALSE(b.add(AF_INET, reinterpret_cast<const uint8_t*>(&dup), 16, 7, &existing));
  CHECK(existing == 1);
  inet_pton(AF_INET, "10.1.99.99", &dup);  // host bits do not make another network
  CHECK_FALSE(b.add(AF_INET, reinterpret_cast<const uint8_t*>(&dup), 16, 7, &existing));
  CHECK(TenantTable().find(AF_INET, reinterpret_cast<const uint8_t*>(&dup)) == kNoTenant);  // never built
}

TEST_CASE("tenant table: the flattened ranges answer as a longest-prefix match over every network") {
  // Random nested, adjacent and disjoint networks of every length, both families; each lookup
  // is checked against the plain definition (the longest network containing the address).
  struct Net {
    std::array<uint8_t, 16> address;
    unsigned prefix;
    uint16_t tenant;
  };
  auto contains = [](const Net& n, const uint8_t* a, unsigned bytes) {
    for (unsigned bit = 0; bit < n.prefix && bit < bytes * 8; ++bit) {
      const uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
      if ((n.address[bit / 8] & m) != (a[bit / 8] & m)) return false;
    }
    return true;
  };
  uint32_t seed = 2026;
  auto rnd = [&] { return seed = seed * 1664525u + 1013904223u; };
  for (int family : {AF_INET, AF_INET6}) {
    const unsigned bytes = family == AF_INET ? 4 : 16;
    TenantTableBuilder b;
    std::vector<Net> nets;
    // A few /8-ish "regions" so that networks nest: every address starts from one of them.
    std::vector<std::array<uint8_t, 16>> regions(4);
    for (auto& r : regions)
      for (auto& x : r) x = static_cast<uint8_t>(rnd() >> 24);
    auto near = [&] {
      std::array<uint8_t, 16> a = regions[rnd() % regions.size()];
      const unsigned keep = 1 + rnd() % (bytes - 1);  // bytes kept from the region
      for (unsigned i = keep; i < 16; ++i) a[i] = static_cast<uint8_t>(rnd() >> 24);
      return a;
    };
    for (int i = 0; i < 400; ++i) {
      Net n{near(), rnd() % (bytes * 8 + 1), static_cast<uint16_t>(i)};
      if (i == 0) n.prefix = 0;
      uint16_t existing = kNoTenant;
      if (!b.add(family, n.address.data(), static_cast<uint8_t>(n.prefix), n.tenant, &existing)) continue;
      nets.push_back(n);
    }
    const TenantTable t = b.build();
    auto reference = [&](const uint8_t* a) {
      const Net* best = nullptr;
      for (const Net& n : nets)
        if (contains(n, a, bytes) && (!best || n.prefix > best->prefix)) best = &n;
      return best ? best->tenant : kNoTenant;
    };
    for (int i = 0; i < 4000; ++i) {
      std::array<uint8_t, 16> a = i % 3 == 0 ? nets[rnd() % nets.size()].address : near();
      if (i % 3 == 1) {  // a range's edge: the network's first or last address
        const Net& n = nets[rnd() % nets.size()];
        a = n.address;
        for (unsigned bit = n.prefix; bit < bytes * 8; ++bit) {
          const uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
          a[bit / 8] = static_cast<uint8_t>(i % 2 ? a[bit / 8] | m : a[bit / 8] & ~m);
        }
      }
      if (family == AF_INET6 && a[0] == 0) a[0] = 0x20;  // not ::ffff:v4 (looked up as IPv4)
      CAPTURE(i);
      REQUIRE(t.find(family, a.data()) == reference(a.data()));
    }
  }
}

TEST_CASE("domain list: name covers its subtree, *.name only the subtree") {
  DomainList list;
  std::string why;
  REQUIRE(list.add("intranet.acme.example", why));
  REQUIRE(list.add("*.partner.example", why));
  REQUIRE(list.add("日本語.jp", why));
  CHECK_FALSE(list.add("bad..name", why));
  auto match = [&](std::string_view name) {
    const std::string w = wire(name);
    const std::string* m = list.match(bytes(w), w.size());
    return m ? *m : std::string();
  };
  CHECK(match("intranet.acme.example") == "intranet.acme.example");
  CHECK(match("a.b.intranet.acme.example") == "intranet.acme.example");
  CHECK(match("acme.example").empty());
  CHECK(match("partner.example").empty());
  CHECK(match("www.partner.example") == "*.partner.example");
  CHECK(match("xn--wgv71a119e.jp") == "日本語.jp");
  CHECK(match("notintranet.acme.example").empty());
}

TEST_CASE("schedules: windows in their time zone, wrapping past midnight") {
  std::string why;
  const int64_t monday_0100_utc = utc(2026, 11, 23, 1, 0);  // Monday 10:00 in Tokyo
  auto tokyo = TimeZone::load("Asia/Tokyo", monday_0100_utc, why);
  REQUIRE_MESSAGE(tokyo, why);
  CHECK(tokyo->offset_at(monday_0100_utc) == 9 * 3600);

  CompiledSchedule office;
  office.days = 0x1f;  // mon-fri
  office.from_minute = 9 * 60;
  office.to_minute = 18 * 60;
  office.zone = *tokyo;
  CHECK(office.active_at(monday_0100_utc));
  CHECK_FALSE(office.active_at(utc(2026, 11, 23, 9, 30)));  // 18:30 Tokyo
  CHECK_FALSE(office.active_at(utc(2026, 11, 21, 1, 0)));   // Saturday 10:00 Tokyo

  CompiledSchedule night;  // 22:00-06:00 UTC starting on Fridays only
  night.days = 1 << 4;
  night.from_minute = 22 * 60;
  night.to_minute = 6 * 60;
  CHECK(night.active_at(utc(2026, 11, 27, 23, 0)));        // Friday 23:00
  CHECK(night.active_at(utc(2026, 11, 28, 5, 59)));        // Saturday 05:59, still Friday's window
  CHECK_FALSE(night.active_at(utc(2026, 11, 28, 6, 0)));
  CHECK_FALSE(night.active_at(utc(2026, 11, 26, 23, 0)));  // Thursday

  auto berlin = TimeZone::load("Europe/Berlin", utc(2026, 3, 1, 0, 0), why);
  REQUIRE(berlin);
  CHECK(berlin->offset_at(utc(2026, 3, 1, 12, 0)) == 3600);
  CHECK(berlin->offset_at(utc(2026, 7, 1, 12, 0)) == 7200);  // DST from the zone's rules
  CHECK_FALSE(TimeZone::load("Mars/Olympus_Mons", 0, why));
  CHECK(why.find("unknown time zone") != std::string::npos);
}

TEST_CASE("safe search targets") {
  auto target = [](std::string_view name) {
    const std::string w = wire(name);
    auto t = safe_search_target({bytes(w), w.size()});
    return std::string(reinterpret_cast<const char*>(t.data()), t.size());
  };
  CHECK(target("www.google.com") == wire("forcesafesearch.google.com"));
  CHECK(target("www.google.co.jp") == wire("forcesafesearch.google.com"));
  CHECK(target("google.de") == wire("forcesafesearch.google.com"));
  CHECK(target("m.youtube.com") == wire("restrict.youtube.com"));
  CHECK(target("www.bing.com") == wire("strict.bing.com"));
  CHECK(target("duckduckgo.com") == wire("safe.duckduckgo.com"));
  CHECK(target("mail.google.com").empty());
  CHECK(target("www.google.example.org").empty());
  CHECK(target("example.com").empty());
}

TEST_CASE("compile: every cross-reference error is reported with its line") {
  const char* yaml = R"(server:
  listen:
    dns: ["127.0.0.1:0"]
upstreams: [127.0.0.1:53]
tenants:
  - id: acme
    networks: ["10.1.0.0/16"]
    policy: office
  - id: other
    networks: ["10.1.0.0/16"]
    policy: missing
policies:
  office:
    block: [gambling, nosuchcategory]
    deny: ["bad..name"]
    schedule:
      - block: [social]
        timezone: Nowhere/City
)";
  auto loaded = config::load_config_text(yaml, "t.yaml");
  REQUIRE(loaded.ok());
  std::vector<config::ConfigError> errors;
  auto snap = compile_policies(loaded.settings, 0, errors);
  std::string all;
  for (const auto& e : errors) all += e.to_string() + "\n";
  CHECK(all.find("t.yaml:14:") != std::string::npos);
  CHECK(all.find("unknown category 'nosuchcategory'") != std::string::npos);
  CHECK(all.find("t.yaml:10:") != std::string::npos);
  CHECK(all.find("already assigned to tenant 'acme'") != std::string::npos);
  CHECK(all.find("unknown policy 'missing'") != std::string::npos);
  CHECK(all.find("'bad..name' is not a domain name") != std::string::npos);
  CHECK(all.find("unknown time zone 'Nowhere/City'") != std::string::npos);
  CHECK(errors.size() == 5);
}

TEST_CASE("compile: device tokens map to their tenant; a token used twice is an error") {
  const char* yaml = R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams: [127.0.0.1:5399]
policies: {p: {block: [], deep_inspection: true}}
tenants:
  - id: acme
    networks: ["10.1.0.0/16"]
    policy: p
    devices: [{name: taro, token: k7q2m9x4p8}]
  - id: beta
    networks: ["10.2.0.0/16"]
    policy: p
    devices: [{name: jiro, token: zzzzzzzz1}, {name: saburo, token: k7q2m9x4p8}]
)";
  auto loaded = config::load_config_text(yaml, "t.yaml");
  REQUIRE(loaded.ok());
  std::vector<config::ConfigError> errors;
  auto snap = compile_policies(loaded.settings, 0, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 12);
  CHECK(errors[0].message.find("already used by device 'taro'") != std::string::npos);
  const DeviceRef* jiro = snap->find_device("zzzzzzzz1");
  REQUIRE(jiro != nullptr);
  CHECK(snap->tenants[jiro->tenant].id == "beta");
  CHECK(snap->tenants[jiro->tenant].devices[jiro->device] == "jiro");
  CHECK(snap->find_device("nosuchtoken") == nullptr);
  CHECK(snap->policies[0].deep_inspection);
}

TEST_CASE("decide: allow beats deny, deny blocks, verdict text names the rule") {
  CompiledPolicy p;
  std::string why;
  REQUIRE(p.allow.add("ok.bad.example", why));
  REQUIRE(p.deny.add("bad.example", why));
  auto decide = [&](std::string_view name) {
    const std::string w = wire(name);
    return decide_query(p, {bytes(w), w.size()}, nullptr, 0);
  };
  CHECK(decide("www.bad.example").blocked());
  CHECK(decide("www.bad.example").rule == RuleKind::deny_list);
  CHECK_FALSE(decide("ok.bad.example").blocked());
  CHECK(decide("ok.bad.example").rule == RuleKind::allow_list);
  CHECK_FALSE(decide("good.example").blocked());
  char text[128];
  size_t n = describe_verdict(decide("x.bad.example"), "acme", text, sizeof text);
  CHECK(std::string(text, n) == "list=deny rule=bad.example tenant=acme");

  const std::string chain = wire("cdn.good.example") + wire("tracker.bad.example");
  Verdict v = decide_chain(p, {bytes(chain), chain.size()}, nullptr, 0);
  CHECK(v.blocked());
  CHECK(v.rule == RuleKind::cname);
  n = describe_verdict(v, "acme", text, sizeof text);
  CHECK(std::string(text, n) == "list=deny rule=bad.example cname=tracker.bad.example. tenant=acme");
}

TEST_CASE("decide: verdict text for categories and schedules, cut to the buffer like snprintf") {
  Verdict v;
  v.kind = VerdictKind::block;
  v.rule = RuleKind::category;
  v.category = CategoryRegistry::builtins().by_slug("gambling")->id;
  char text[128];
  CHECK(std::string(text, describe_verdict(v, "acme", text, sizeof text)) == "category=gambling tenant=acme");
  CompiledSchedule s;
  s.description = "mon-fri 09:00-18:00 Asia/Tokyo";
  v.rule = RuleKind::schedule;
  v.schedule = &s;
  CHECK(std::string(text, describe_verdict(v, "acme", text, sizeof text)) ==
        "category=gambling schedule=\"mon-fri 09:00-18:00 Asia/Tokyo\" tenant=acme");
  // Cut: cap - 1 characters and a NUL; nothing written at all for cap 0.
  char small[11];
  std::memset(small, 'x', sizeof small);
  CHECK(describe_verdict(v, "acme", small, 10) == 9);
  CHECK(std::string(small) == "category=");
  CHECK(small[10] == 'x');
  CHECK(describe_verdict(v, "acme", small, 0) == 0);
  CHECK(small[0] == 'c');
}

TEST_CASE("compile: a tenant's limits are its own where set, else the global limits; a UDP size under 512 is an error") {
  const char* yaml = R"(server: {listen: {dns: ["127.0.0.1:5353"]}}
upstreams: [127.0.0.1:5399]
limits: {rrl_responses_per_second: 50, tenant_queries_per_second: 1000, upstream_queries_per_client: 10,
         upstream_queries_per_tenant: 20, unverified_udp_size: 900}
policies: {p: {log: none}}
tenants:
  - {id: plain, networks: ["10.1.0.0/16"], policy: p}
  - {id: own, networks: ["10.2.0.0/16"], policy: p, queries_per_second: 5, rrl_responses_per_second: 6,
     upstream_queries: 7, upstream_queries_per_client: 8, unverified_udp_size: 512}
  - {id: tiny, networks: ["10.3.0.0/16"], policy: p, unverified_udp_size: 100}
)";
  auto loaded = config::load_config_text(yaml, "t.yaml");
  INFO((loaded.errors.empty() ? std::string() : loaded.errors[0].message));
  REQUIRE(loaded.ok());
  std::vector<config::ConfigError> errors;
  auto snap = compile_policies(loaded.settings, 0, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 10);
  CHECK(errors[0].message.find("512..1232") != std::string::npos);
  const TenantLimits& plain = snap->tenants[0].limits;
  CHECK(plain.queries_per_second == 1000);
  CHECK(plain.rrl_responses_per_second == 50);
  CHECK(plain.upstream_queries == 20);
  CHECK(plain.upstream_queries_per_client == 10);
  CHECK(plain.unverified_udp_size == 900);
  const TenantLimits& own = snap->tenants[1].limits;
  CHECK(own.queries_per_second == 5);
  CHECK(own.rrl_responses_per_second == 6);
  CHECK(own.upstream_queries == 7);
  CHECK(own.upstream_queries_per_client == 8);
  CHECK(own.unverified_udp_size == 512);
}
