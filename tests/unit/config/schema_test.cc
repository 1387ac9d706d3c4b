// config/schema: every enum value has one name and reads back from it; days and times of day
// read back from what is written; the field descriptions list each key once.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "config/schema.h"

using namespace sekisho::config;

namespace {

template <class E>
void check_names(std::initializer_list<E> values) {
  std::set<std::string_view> seen;
  for (E v : values) {
    const std::string_view name = name_of(v);
    CHECK_FALSE(name.empty());
    CHECK(seen.insert(name).second);
    CHECK(parse_enum<E>(name) == v);
  }
  CHECK(std::size(EnumNames<E>::names) == values.size());
  CHECK_FALSE(parse_enum<E>("no-such-name").has_value());
}

template <class S>
void check_keys_unique() {
  std::set<std::string_view> seen;
  for (auto k : schema::keys<S>()) CHECK(seen.insert(k).second);
}

}  // namespace

TEST_CASE("schema: enum names both ways, listed in messages in one order") {
  check_names({BlockAction::blockpage, BlockAction::nxdomain, BlockAction::nodata, BlockAction::refused});
  check_names({LogMode::full, LogMode::anonymized, LogMode::none});
  check_names({UpstreamTransport::udp, UpstreamTransport::tcp, UpstreamTransport::tls, UpstreamTransport::https});
  check_names({AdminRole::operator_role, AdminRole::tenant_admin});
  check_names({EcsMode::strip, EcsMode::forward});
  check_names({PolicyMode::enforce, PolicyMode::monitor});
  check_names({HolidayRule::none, HolidayRule::jp});
  CHECK(enum_choices<BlockAction>() == "blockpage | nxdomain | nodata | refused");
  CHECK(not_an_enum_value<LogMode>("verbose") == "'verbose' is not a log mode (full | anonymized | none)");
  CHECK(not_an_enum_value<AdminRole>("root") == "'root' is not a role (operator | tenant-admin)");
  CHECK(category_kind_name(CategoryKind::kSecurity) == "security");
  CHECK(category_kind_name(CategoryKind::kAllow) == "allow");
}

TEST_CASE("schema: days and times of day read back from what is written") {
  for (unsigned d = 0; d < std::size(kDayNames); ++d) CHECK(parse_day(kDayNames[d]) == d);
  CHECK(parse_day("holiday") == kHolidayBit);
  CHECK_FALSE(parse_day("Mon").has_value());
  CHECK(not_a_day("x") == "'x' is not a day (mon tue wed thu fri sat sun holiday)");
  CHECK(check_date("2028-02-29").empty());
  CHECK(check_date("2027-02-29") == "'2027-02-29' is not a date (YYYY-MM-DD)");
  int64_t first = 0, last = 0;
  CHECK(parse_date_range("2026-12-28..2027-01-05", first, last).empty());
  CHECK(last - first == 8);
  CHECK(parse_date_range("2027-03-25", first, last).empty());
  CHECK(first == last);
  CHECK_FALSE(parse_date_range("2027-03-25..", first, last).empty());
  for (uint16_t m : {0, 1, 9 * 60, 23 * 60 + 59, 24 * 60}) {
    uint16_t back = 9999;
    REQUIRE(parse_time_of_day(time_of_day_text(m), back));
    CHECK(back == m);
  }
  uint16_t unchanged = 7;
  for (const char* bad : {"24:01", "25:00", "09:60", "9:00", "09.00", "", "0900x"})
    CHECK_FALSE(parse_time_of_day(bad, unchanged));
  CHECK(unchanged == 7);
  CHECK(not_a_time_of_day("9am") == "\"9am\" is not a time of day (HH:MM)");
}

TEST_CASE("schema: each struct's keys are listed once, in the order the files are written") {
  check_keys_unique<TenantSettings>();
  check_keys_unique<DeviceSettings>();
  check_keys_unique<PolicySettings>();
  check_keys_unique<ScheduleSettings>();
  check_keys_unique<TcpSettings>();
  check_keys_unique<ForwardingSettings>();
  CHECK(schema::keys<ScheduleSettings>() ==
        std::array<std::string_view, 7>{"block", "days", "from", "to", "timezone", "since", "until"});
  CHECK(schema::keys<DeviceSettings>() == std::array<std::string_view, 2>{"name", "token"});
  CHECK(check_tenant_id("acme-1_b").empty());
  CHECK(check_tenant_id("../x") == "'../x': use lower-case letters, digits, '-' and '_'");
  CHECK(check_device_token("k7q2m9x4p8").empty());
  CHECK_FALSE(check_device_token("SHORT").empty());
}
