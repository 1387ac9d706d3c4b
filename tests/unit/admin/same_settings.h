// A tenants.d file that uses every field, and field-by-field equality of tenants and policies,
// as the readers and writers must keep them (marks and the compiled form aside).
#pragma once

#include <doctest/doctest.h>

#include "config/settings.h"
#include "config/yaml/write.h"

namespace sekisho::test {

// A tenant exercising every field the file can hold, with values the loader would not default to.
inline config::TenantFileContent rich_tenant_file() {
  config::TenantFileContent c;
  auto& t = c.tenant;
  t.id = "acme";
  t.name = "ACME 株式会社";
  t.contact = "情報システム部: ext. 1234 \"help\"";
  for (const char* text : {"10.1.0.0/16", "2001:db8:1::/48"}) {
    config::NetworkSettings n;
    n.text = text;
    t.networks.push_back(n);
  }
  t.policy = "office";
  t.max_devices = 5;
  t.ecs = config::EcsMode::forward;
  t.queries_per_second = 500;
  t.rrl_responses_per_second = 40;
  t.upstream_queries = 300;
  t.upstream_queries_per_client = 30;
  t.unverified_udp_size = 512;
  t.intercept_bandwidth = 2500000;
  t.devices = {{"taro-iphone", "k7q2m9x4p8", {}}, {"null", "00000000", {}}};  // "null" and all-digit must stay strings
  config::LocalRecordSettings txt;
  txt.name = "intranet.acme.example";
  txt.type = config::LocalRecordType::txt;
  txt.value = "v=1; \"quoted\"";
  txt.ttl = 60;
  config::LocalRecordSettings a;
  a.name = "wiki.acme.example";
  a.value = "10.1.2.3";  // type A and ttl 300: defaults
  t.local_records = {txt, a};
  t.local_zones = {"acme.example"};
  config::ForwardZoneSettings corp;
  corp.domain = "corp.acme.example";
  corp.upstreams = {"10.1.0.53", "[2001:db8:1::53]:5353"};
  t.forward_zones = {corp};
  config::PolicySettings p;
  p.name = "office";
  p.block = {"adult", "gambling"};
  p.block_groups = {"evasion", "security"};  // whole groups (大分類)
  p.mode = config::PolicyMode::monitor;
  p.monitor = {"social"};
  p.monitor_groups = {"shopping"};
  p.read_only = {"forums"};
  p.read_only_groups = {"communication"};
  p.unblock = {"games"};
  p.unblock_groups = {"entertainment"};
  p.allow_categories = {"news"};
  p.holidays = config::HolidayRule::jp;
  p.calendar = {"2026-12-28..2027-01-05", "2027-03-25"};
  p.allow = {{"intranet.acme.example", {}}, {"*.partner.example", {}}};
  p.deny = {{"badsite.example", {}}};
  config::ScheduleSettings s;
  s.block = {"social"};
  s.days = 0x1f;
  s.from_minute = 9 * 60;
  s.to_minute = 24 * 60;
  s.timezone = "Asia/Tokyo";
  p.schedule.push_back(s);
  config::ScheduleSettings night;
  night.block = {"games"};
  night.from_minute = 22 * 60 + 30;
  night.to_minute = 6 * 60;
  night.days = 0xe0;  // sat, sun, holiday
  night.since = "2026-12-01";
  night.until = "2027-03-31";
  p.schedule.push_back(night);
  p.safe_search = true;
  p.action = config::BlockAction::nxdomain;
  p.log = config::LogMode::anonymized;
  p.deep_inspection = true;
  c.policies.push_back(p);
  config::PolicySettings plain;
  plain.name = "kids";
  plain.action = config::BlockAction::refused;
  c.policies.push_back(plain);
  return c;
}

inline void check_same_tenant(const config::TenantSettings& a, const config::TenantSettings& b) {
  CHECK(a.id == b.id);
  CHECK(a.name == b.name);
  CHECK(a.contact == b.contact);
  REQUIRE(a.networks.size() == b.networks.size());
  for (size_t i = 0; i < a.networks.size(); ++i) CHECK(a.networks[i].text == b.networks[i].text);
  CHECK(a.policy == b.policy);
  CHECK(a.max_devices == b.max_devices);
  CHECK(a.ecs == b.ecs);
  CHECK(a.intercept_bandwidth == b.intercept_bandwidth);
  REQUIRE(a.devices.size() == b.devices.size());
  for (size_t i = 0; i < a.devices.size(); ++i) {
    CHECK(a.devices[i].name == b.devices[i].name);
    CHECK(a.devices[i].token == b.devices[i].token);
  }
  REQUIRE(a.local_records.size() == b.local_records.size());
  for (size_t i = 0; i < a.local_records.size(); ++i) {
    CHECK(a.local_records[i].name == b.local_records[i].name);
    CHECK(a.local_records[i].type == b.local_records[i].type);
    CHECK(a.local_records[i].value == b.local_records[i].value);
    CHECK(a.local_records[i].ttl == b.local_records[i].ttl);
  }
  CHECK(a.local_zones == b.local_zones);
  REQUIRE(a.forward_zones.size() == b.forward_zones.size());
  for (size_t i = 0; i < a.forward_zones.size(); ++i) {
    CHECK(a.forward_zones[i].domain == b.forward_zones[i].domain);
    CHECK(a.forward_zones[i].upstreams == b.forward_zones[i].upstreams);
  }
}

inline void check_same_policy(const config::PolicySettings& a, const config::PolicySettings& b) {
  CHECK(a.name == b.name);
  CHECK(a.block == b.block);
  CHECK(a.block_groups == b.block_groups);
  CHECK(a.mode == b.mode);
  CHECK(a.monitor == b.monitor);
  CHECK(a.monitor_groups == b.monitor_groups);
  CHECK(a.read_only == b.read_only);
  CHECK(a.read_only_groups == b.read_only_groups);
  CHECK(a.unblock == b.unblock);
  CHECK(a.unblock_groups == b.unblock_groups);
  CHECK(a.allow_categories == b.allow_categories);
  CHECK(a.holidays == b.holidays);
  CHECK(a.calendar == b.calendar);
  REQUIRE(a.allow.size() == b.allow.size());
  for (size_t i = 0; i < a.allow.size(); ++i) CHECK(a.allow[i].pattern == b.allow[i].pattern);
  REQUIRE(a.deny.size() == b.deny.size());
  for (size_t i = 0; i < a.deny.size(); ++i) CHECK(a.deny[i].pattern == b.deny[i].pattern);
  REQUIRE(a.schedule.size() == b.schedule.size());
  for (size_t i = 0; i < a.schedule.size(); ++i) {
    CHECK(a.schedule[i].block == b.schedule[i].block);
    CHECK(a.schedule[i].days == b.schedule[i].days);
    CHECK(a.schedule[i].from_minute == b.schedule[i].from_minute);
    CHECK(a.schedule[i].to_minute == b.schedule[i].to_minute);
    CHECK(a.schedule[i].timezone == b.schedule[i].timezone);
    CHECK(a.schedule[i].since == b.schedule[i].since);
    CHECK(a.schedule[i].until == b.schedule[i].until);
  }
  CHECK(a.safe_search == b.safe_search);
  CHECK(a.action == b.action);
  CHECK(a.log == b.log);
  CHECK(a.deep_inspection == b.deep_inspection);
}

}  // namespace sekisho::test
