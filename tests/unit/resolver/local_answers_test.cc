// resolver/local_answers: a tenant's local records, local zones and forward zones as the
// answer_local stage finds them (issue 21 item 7), and policy/local_names.cc's checks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy/domain_list.h"
#include "policy/local_names.h"
#include "resolver/cache/cache_key.h"
#include "resolver/local_answers.h"

using namespace sekisho;

namespace {

config::LocalRecordSettings rec(std::string name, config::LocalRecordType type, std::string value) {
  config::LocalRecordSettings r;
  r.name = std::move(name);
  r.type = type;
  r.value = std::move(value);
  return r;
}

config::TenantSettings acme() {
  using T = config::LocalRecordType;
  config::TenantSettings t;
  t.id = "acme";
  t.local_records = {rec("intranet.acme.example", T::a, "10.1.2.3"), rec("intranet.acme.example", T::a, "10.1.2.4"),
                     rec("intranet.acme.example", T::aaaa, "fd00::3"), rec("wiki.acme.example", T::cname, "intranet.acme.example"),
                     rec("out.acme.example", T::cname, "www.elsewhere.example"),
                     rec("gone.acme.example", T::cname, "missing.acme.example"),
                     rec("printer.b.acme.example", T::txt, std::string(300, 'x'))};
  t.local_zones = {"acme.example"};
  config::ForwardZoneSettings z;
  z.domain = "corp.acme.example";
  z.upstreams = {"10.9.9.9", "[fd00::53]:5353"};
  t.forward_zones = {z};
  return t;
}

struct Found {
  const cache::CachedAnswer* answer;
  uint16_t view;
};

Found find(const resolver::LocalAnswers& local, std::string_view name, uint16_t qtype) {
  const std::string w = policy::to_wire(name);
  const auto v = local.find({reinterpret_cast<const uint8_t*>(w.data()), w.size()}, qtype);
  return {v.answer, v.upstream_view};
}

}  // namespace

TEST_CASE("local records, zones and forward zones answer as Unbound's local data does") {
  std::vector<config::ConfigError> errors;
  const policy::LocalNames names = policy::compile_local_names(acme(), "tenants[0]", errors);
  REQUIRE(errors.empty());
  REQUIRE(names.forward.size() == 1);
  CHECK(names.forward[0].upstreams.size() == 2);
  CHECK(names.forward[0].upstreams[1].address.to_string() == "[fd00::53]:5353");
  const resolver::LocalAnswers local(names, 7);

  auto a = find(local, "intranet.acme.example", dns::qtype::kA);
  REQUIRE(a.answer);
  CHECK(a.answer->authoritative);
  CHECK(a.answer->rcode == dns::Rcode::noerror);
  CHECK(a.answer->ancount == 2);
  CHECK(a.answer->nscount == 0);

  auto nodata = find(local, "intranet.acme.example", 15 /* MX */);
  REQUIRE(nodata.answer);
  CHECK(nodata.answer->rcode == dns::Rcode::noerror);
  CHECK(nodata.answer->ancount == 0);
  CHECK(nodata.answer->nscount == 1);  // the zone's SOA

  auto chain = find(local, "wiki.acme.example", dns::qtype::kAaaa);
  REQUIRE(chain.answer);
  CHECK(chain.answer->ancount == 2);  // CNAME, then the target's AAAA
  CHECK(std::string(chain.answer->chain.begin(), chain.answer->chain.end()) == policy::to_wire("intranet.acme.example"));  // what CNAME inspection judges

  auto out = find(local, "out.acme.example", dns::qtype::kA);
  REQUIRE(out.answer);
  CHECK(out.answer->ancount == 1);  // the CNAME alone, for the client to follow
  CHECK(out.answer->rcode == dns::Rcode::noerror);
  CHECK(std::string(out.answer->chain.begin(), out.answer->chain.end()) == policy::to_wire("www.elsewhere.example"));

  auto dangling = find(local, "gone.acme.example", dns::qtype::kA);  // into the zone, no such name
  REQUIRE(dangling.answer);
  CHECK(dangling.answer->rcode == dns::Rcode::nxdomain);  // RFC 6604
  CHECK(dangling.answer->ancount == 1);

  auto nx = find(local, "nothere.acme.example", dns::qtype::kA);
  REQUIRE(nx.answer);
  CHECK(nx.answer->rcode == dns::Rcode::nxdomain);
  CHECK(nx.answer->nscount == 1);
  CHECK(nx.answer->ttl == resolver::LocalAnswers::kNegativeTtl);

  auto ent = find(local, "b.acme.example", dns::qtype::kA);  // empty non-terminal
  REQUIRE(ent.answer);
  CHECK(ent.answer->rcode == dns::Rcode::noerror);
  CHECK(ent.answer->ancount == 0);

  auto txt = find(local, "printer.b.acme.example", dns::qtype::kTxt);
  REQUIRE(txt.answer);
  CHECK(txt.answer->ancount == 1);

  auto soa = find(local, "acme.example", dns::qtype::kSoa);
  REQUIRE(soa.answer);
  CHECK(soa.answer->ancount == 1);

  CHECK(find(local, "git.corp.acme.example", dns::qtype::kA).view == 7);
  CHECK(find(local, "corp.acme.example", dns::qtype::kA).view == 7);
  CHECK(find(local, "git.corp.acme.example", dns::qtype::kA).answer == nullptr);
  auto elsewhere = find(local, "www.example.com", dns::qtype::kA);
  CHECK((elsewhere.answer == nullptr && elsewhere.view == 0));
  auto neighbour = find(local, "xacme.example", dns::qtype::kA);  // not below acme.example
  CHECK((neighbour.answer == nullptr && neighbour.view == 0));
}

TEST_CASE("a forward zone's answers are cached under a key of their own") {
  const std::string w = policy::to_wire("git.corp.acme.example");
  const std::span<const uint8_t> name(reinterpret_cast<const uint8_t*>(w.data()), w.size());
  const auto global = cache::make_key(name, dns::qtype::kA, dns::kClassIn, false, false, {}, 0);
  const auto one = cache::make_key(name, dns::qtype::kA, dns::kClassIn, false, false, {}, 1);
  const auto two = cache::make_key(name, dns::qtype::kA, dns::kClassIn, false, false, {}, 2);
  CHECK(!(global == one));
  CHECK(!(one == two));
  CHECK(one == cache::make_key(name, dns::qtype::kA, dns::kClassIn, false, false, {}, 1));
}

TEST_CASE("bad local names are reported with their paths") {
  using T = config::LocalRecordType;
  config::TenantSettings t;
  t.local_records = {rec("a.example", T::a, "10.1.2.300"), rec("b.example", T::aaaa, "10.1.2.3"),
                     rec("c.example", T::cname, "d.example"), rec("c.example", T::txt, "x"),
                     rec("bad name.example", T::a, "10.0.0.1")};
  config::ForwardZoneSettings z;
  z.domain = "corp.example";
  z.upstreams = {"no address"};
  t.forward_zones = {z, z};
  std::vector<config::ConfigError> errors;
  const policy::LocalNames names = policy::compile_local_names(t, "tenants[2]", errors);
  std::vector<std::string> paths;
  for (const auto& e : errors) paths.push_back(e.path);
  CHECK(paths == std::vector<std::string>{"tenants[2].local_records[0].value", "tenants[2].local_records[1].value",
                                          "tenants[2].local_records[3]", "tenants[2].local_records[4].name",
                                          "tenants[2].forward_zones[0].upstreams[0]",
                                          "tenants[2].forward_zones[1].upstreams[0]"});
  CHECK(errors[0].message == "'10.1.2.300' is not an IPv4 address (an A record's value)");
  CHECK(names.records.size() == 1);
  CHECK(names.forward.empty());
}
