// The one description of the configuration's vocabulary: the names of every enum the files
// spell out, days and times of day, and the fields of a tenant, a device, a policy and a
// schedule entry (key, type, range, whether required, how the YAML writer treats it; defaults
// are the initialisers in settings.h), and of the server.tcp and forwarding sections. Three
// readers and writers walk these descriptions: the YAML reader (config/yaml/tenants.cc), the
// YAML writer (config/yaml/write.cc) and the admin API's JSON body reader and writer
// (admin/api/json_body.cc), so a field is read, checked and written the same way in all of
// them. Knows no YAML and no JSON.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/settings.h"

namespace sekisho::config {

// ---- enum ↔ name ---------------------------------------------------------------------------

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

// Specialised per enum: `names` in the order messages list them, `what` one of them is called.
template <class E>
struct EnumNames;

template <>
struct EnumNames<BlockAction> {
  static constexpr std::string_view what = "an action";
  static constexpr EnumName<BlockAction> names[] = {{BlockAction::blockpage, "blockpage"},
                                                    {BlockAction::nxdomain, "nxdomain"},
                                                    {BlockAction::nodata, "nodata"},
                                                    {BlockAction::refused, "refused"}};
};

template <>
struct EnumNames<LogMode> {
  static constexpr std::string_view what = "a log mode";
  static constexpr EnumName<LogMode> names[] = {
      {LogMode::full, "full"}, {LogMode::anonymized, "anonymized"}, {LogMode::none, "none"}};
};

template <>
struct EnumNames<PolicyMode> {
  static constexpr std::string_view what = "a policy mode";
  static constexpr EnumName<PolicyMode> names[] = {{PolicyMode::enforce, "enforce"}, {PolicyMode::monitor, "monitor"}};
};

template <>
struct EnumNames<HolidayRule> {
  static constexpr std::string_view what = "a holiday rule";
  static constexpr EnumName<HolidayRule> names[] = {{HolidayRule::none, "none"}, {HolidayRule::jp, "jp"}};
};

template <>
struct EnumNames<UpstreamTransport> {
  static constexpr std::string_view what = "a transport";
  static constexpr EnumName<UpstreamTransport> names[] = {
      {UpstreamTransport::udp, "udp"},
      {UpstreamTransport::tcp, "tcp"},
      {UpstreamTransport::tls, "tls"},
      {UpstreamTransport::https, "https"}};
};

template <>
struct EnumNames<AdminRole> {
  static constexpr std::string_view what = "a role";
  static constexpr EnumName<AdminRole> names[] = {{AdminRole::operator_role, "operator"},
                                                  {AdminRole::tenant_admin, "tenant-admin"}};
};

template <>
struct EnumNames<EcsMode> {
  static constexpr std::string_view what = "an ECS mode";
  static constexpr EnumName<EcsMode> names[] = {{EcsMode::strip, "strip"}, {EcsMode::forward, "forward"}};
};

template <>
struct EnumNames<FeedKind> {
  static constexpr std::string_view what = "a feed kind";
  static constexpr EnumName<FeedKind> names[] = {{FeedKind::rpz_xfr, "rpz-xfr"}, {FeedKind::http, "http"}};
};

// The names policy::parse_format reads (a unit test holds the two together).
template <>
struct EnumNames<ListFormat> {
  static constexpr std::string_view what = "a list format";
  static constexpr EnumName<ListFormat> names[] = {{ListFormat::domains, "domains"},
                                                   {ListFormat::hosts, "hosts"},
                                                   {ListFormat::adblock, "adblock"},
                                                   {ListFormat::rpz, "rpz"},
                                                   {ListFormat::csv, "csv"}};
};

template <>
struct EnumNames<TsigAlgorithm> {
  static constexpr std::string_view what = "a TSIG algorithm";
  static constexpr EnumName<TsigAlgorithm> names[] = {{TsigAlgorithm::hmac_sha256, "hmac-sha256"},
                                                      {TsigAlgorithm::hmac_sha384, "hmac-sha384"},
                                                      {TsigAlgorithm::hmac_sha512, "hmac-sha512"},
                                                      {TsigAlgorithm::hmac_sha224, "hmac-sha224"},
                                                      {TsigAlgorithm::hmac_sha1, "hmac-sha1"}};
};

template <class E>
constexpr std::string_view name_of(E value) {
  for (const auto& n : EnumNames<E>::names)
    if (n.value == value) return n.name;
  return {};
}

template <class E>
constexpr std::optional<E> parse_enum(std::string_view text) {
  for (const auto& n : EnumNames<E>::names)
    if (n.name == text) return n.value;
  return std::nullopt;
}

// "blockpage | nxdomain | nodata | refused"
template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& n : EnumNames<E>::names) out += (out.empty() ? "" : " | ") + std::string(n.name);
  return out;
}

// "'drop' is not an action (blockpage | nxdomain | nodata | refused)"
template <class E>
std::string not_an_enum_value(std::string_view text) {
  return "'" + std::string(text) + "' is not " + std::string(EnumNames<E>::what) + " (" + enum_choices<E>() + ")";
}

// ---- days and times of day -----------------------------------------------------------------

// Bit i of ScheduleSettings::days is kDayNames[i]; the last is the day class of holidays.
inline constexpr std::string_view kDayNames[8] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"};
inline constexpr unsigned kHolidayBit = 7;
inline constexpr uint8_t kEveryDay = 0xff;
std::optional<unsigned> parse_day(std::string_view text);  // the bit, or nothing
std::string not_a_day(std::string_view text);              // "'x' is not a day (mon tue … sun holiday)"

// Dates are "YYYY-MM-DD" (base/civil_date.h counts them).
std::string check_date(std::string_view text);  // "" or "'x' is not a date (YYYY-MM-DD)"
// "2026-12-28" or "2026-12-28..2027-01-05" → first and last day (inclusive, days from
// 1970-01-01); "" or why not.
std::string parse_date_range(std::string_view text, int64_t& first, int64_t& last);

// "09:00" → 540; "24:00" is allowed as the end of the day.
bool parse_time_of_day(std::string_view text, uint16_t& minutes);
std::string time_of_day_text(uint16_t minutes);            // 540 → "09:00"
std::string not_a_time_of_day(std::string_view text);      // "\"x\" is not a time of day (HH:MM)"

// ---- values with rules of their own --------------------------------------------------------

// Each returns "" when `value` is fine, else the message.
std::string check_tenant_id(std::string_view value);     // a-z 0-9 '-' '_' (it names a file)
std::string check_device_token(std::string_view value);  // 8–32 of a-z 0-9 (it becomes a DNS label)
std::string check_host_port(std::string_view value);     // "192.0.2.1:53", "[2001:db8::1]" (port 53)
std::string check_domain_name(std::string_view value);   // "rpz.example.", "rpz.example": labels of 1–63
std::string check_feed_url(std::string_view value);      // "https://lists.example/x.txt": http(s), a host
// The fields a feed's kind needs and those it must not have; each problem as (key, message).
std::vector<std::pair<std::string_view, std::string>> check_feed_kind(const FeedSettings& f);

// Defaults that depend on another field: a tenant's name is its id unless given.
void apply_derived_defaults(TenantSettings& t);

// ---- field descriptions --------------------------------------------------------------------

namespace schema {

// How the YAML writer treats a field (readers never write a default back).
enum class Write : uint8_t { always, unless_default };

// A string. `required`: the message when it is missing or empty; `check`: its rule (see
// above); `mark`: where the reader records the value's position (else the item's).
template <class S>
struct Text {
  std::string_view key;
  std::string S::*member;
  Write write = Write::unless_default;
  std::string_view required = {};
  std::string (*check)(std::string_view) = nullptr;
  SourceMark S::*mark = nullptr;
};

// A list of strings (YAML also takes a lone string as a list of one); `marks`: each item's
// position.
template <class S>
struct Texts {
  std::string_view key;
  std::vector<std::string> S::*member;
  std::string_view required = {};  // the message when the list is empty
  std::vector<SourceMark> S::*marks = nullptr;
};

// Domain-name patterns (allow and deny lists); checked by the compile step.
template <class S>
struct Patterns {
  std::string_view key;
  std::vector<ListEntrySettings> S::*member;
};

// IP networks in CIDR form; each is parsed by the reader that meets it first.
template <class S>
struct Networks {
  std::string_view key;
  std::vector<NetworkSettings> S::*member;
};

template <class S>
struct Flag {
  std::string_view key;
  bool S::*member;
};

template <class S, class Int>
struct Number {
  std::string_view key;
  Int S::*member;
  uint64_t min;
  uint64_t max;
};

// One of an enum's names (EnumNames<E>).
template <class S, class E>
struct Choice {
  std::string_view key;
  E S::*member;
  Write write = Write::unless_default;
};

// "HH:MM", written always (a window reads better whole).
template <class S>
struct Time {
  std::string_view key;
  uint16_t S::*member;
};

// A list of day names, bits of kDayNames.
template <class S>
struct Days {
  std::string_view key;
  uint8_t S::*member;
};

// One nested mapping described by Fields<Item> (absent: Item's defaults).
template <class S, class Item>
struct Section {
  std::string_view key;
  Item S::*member;
};

// A list of mappings, each described by Fields<Item>; `what` names the list in messages.
template <class S, class Item>
struct Items {
  std::string_view key;
  std::vector<Item> S::*member;
  std::string_view what;
};

// Fields<S>::all: S's fields in the order they are written and listed in messages.
template <class S>
struct Fields;

template <>
struct Fields<ScheduleSettings> {
  using S = ScheduleSettings;
  static constexpr auto all = std::tuple{
      Texts<S>{"block", &S::block, "a schedule entry needs at least one category to block"},
      Days<S>{"days", &S::days},
      Time<S>{"from", &S::from_minute},
      Time<S>{"to", &S::to_minute},
      Text<S>{"timezone", &S::timezone, Write::always, {}, nullptr, &S::timezone_mark},
      Text<S>{"since", &S::since, Write::unless_default, {}, check_date},
      Text<S>{"until", &S::until, Write::unless_default, {}, check_date},
  };
};

template <>
struct Fields<PolicySettings> {
  using S = PolicySettings;
  static constexpr auto all = std::tuple{
      Choice<S, PolicyMode>{"mode", &S::mode},
      Texts<S>{"block", &S::block, {}, &S::block_marks},
      Texts<S>{"block_groups", &S::block_groups, {}, &S::block_group_marks},
      Texts<S>{"monitor", &S::monitor, {}, &S::monitor_marks},
      Texts<S>{"monitor_groups", &S::monitor_groups, {}, &S::monitor_group_marks},
      Texts<S>{"read_only", &S::read_only, {}, &S::read_only_marks},
      Texts<S>{"read_only_groups", &S::read_only_groups, {}, &S::read_only_group_marks},
      Texts<S>{"unblock", &S::unblock, {}, &S::unblock_marks},
      Texts<S>{"unblock_groups", &S::unblock_groups, {}, &S::unblock_group_marks},
      Texts<S>{"allow_categories", &S::allow_categories, {}, &S::allow_category_marks},
      Patterns<S>{"allow", &S::allow},
      Patterns<S>{"deny", &S::deny},
      Items<S, ScheduleSettings>{"schedule", &S::schedule, "schedule entries"},
      Choice<S, HolidayRule>{"holidays", &S::holidays},
      Texts<S>{"calendar", &S::calendar, {}, &S::calendar_marks},
      Flag<S>{"safe_search", &S::safe_search},
      Choice<S, BlockAction>{"action", &S::action, Write::always},
      Choice<S, LogMode>{"log", &S::log},
      Flag<S>{"deep_inspection", &S::deep_inspection},
  };
};

template <>
struct Fields<DeviceSettings> {
  using S = DeviceSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"name", &S::name, Write::always, "every device needs a name"},
      Text<S>{"token", &S::token, Write::always, "every device needs a token (`sekisho device add` generates one)",
              check_device_token},
  };
};

template <>
struct Fields<TenantSettings> {
  using S = TenantSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"id", &S::id, Write::always, "every tenant needs an id", check_tenant_id},
      Text<S>{"name", &S::name, Write::always},
      Text<S>{"contact", &S::contact},
      Networks<S>{"networks", &S::networks},
      Text<S>{"policy", &S::policy, Write::always, "every tenant needs a policy", nullptr, &S::policy_mark},
      Number<S, uint32_t>{"max_devices", &S::max_devices, 0, 100000000},
      Choice<S, EcsMode>{"ecs", &S::ecs},
      Number<S, uint32_t>{"queries_per_second", &S::queries_per_second, 0, 100000000},
      Number<S, uint32_t>{"rrl_responses_per_second", &S::rrl_responses_per_second, 0, 100000000},
      Number<S, uint32_t>{"upstream_queries", &S::upstream_queries, 0, 10000000},
      Number<S, uint32_t>{"upstream_queries_per_client", &S::upstream_queries_per_client, 0, 10000000},
      Number<S, uint32_t>{"unverified_udp_size", &S::unverified_udp_size, 0, 1232},
      Number<S, uint64_t>{"intercept_bandwidth", &S::intercept_bandwidth, 0, 1000000000},
      Items<S, DeviceSettings>{"devices", &S::devices, "devices"},
      Items<S, LocalRecordSettings>{"local_records", &S::local_records, "local records"},
      Texts<S>{"local_zones", &S::local_zones, {}, &S::local_zone_marks},
      Items<S, ForwardZoneSettings>{"forward_zones", &S::forward_zones, "forward zones"},
  };
};

// server.tcp, forwarding and limits: numbers only, read by config/yaml/load.cc through the same field
// readers (no writer or JSON body takes them).
template <>
struct Fields<TcpSettings> {
  using S = TcpSettings;
  static constexpr auto all = std::tuple{
      Number<S, uint32_t>{"idle_timeout_ms", &S::idle_timeout_ms, 100, 3600000},
      Number<S, uint32_t>{"max_connections", &S::max_connections, 1, 1000000},
      Number<S, uint32_t>{"max_pipelined", &S::max_pipelined, 1, 65535},
      Number<S, uint32_t>{"frame_timeout_ms", &S::frame_timeout_ms, 100, 3600000},
      Number<S, uint32_t>{"max_connections_per_address", &S::max_connections_per_address, 0, 1000000},
  };
};

template <>
struct Fields<TsigSettings> {
  using S = TsigSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"name", &S::name, Write::always, "a TSIG key needs its name"},
      Choice<S, TsigAlgorithm>{"algorithm", &S::algorithm},
      Text<S>{"secret_file", &S::secret_file, Write::always, "a TSIG key needs secret_file (its base64 secret)"},
  };
};

template <>
struct Fields<ForwardingSettings> {
  using S = ForwardingSettings;
  static constexpr auto all = std::tuple{
      Number<S, uint32_t>{"timeout_ms", &S::timeout_ms, 10, 60000},
      Number<S, uint32_t>{"attempts", &S::attempts, 1, 16},
      Number<S, uint32_t>{"tcp_connections_per_upstream", &S::tcp_connections_per_upstream, 1, 64},
      Number<S, uint32_t>{"tcp_idle_timeout_ms", &S::tcp_idle_timeout_ms, 100, 600000},
      Number<S, uint32_t>{"max_upstream_sockets", &S::max_upstream_sockets, 16, 1000000},
  };
};

// fleet: read by config/yaml/load.cc; checked further by config/fleet (the password's source).
template <>
struct Fields<FleetSettings> {
  using S = FleetSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"conninfo", &S::conninfo, Write::unless_default, "fleet needs a conninfo (a libpq connection string)"},
      Text<S>{"node", &S::node},
      Text<S>{"password_file", &S::password_file},
      Text<S>{"password_env", &S::password_env},
      Text<S>{"snapshot", &S::snapshot},
      Number<S, uint32_t>{"connect_timeout_ms", &S::connect_timeout_ms, 1000, 60000},
      Number<S, uint32_t>{"retry_max_ms", &S::retry_max_ms, 250, 600000},
  };
};

// intercept.limits: numbers only, read by config/yaml/load.cc like server.tcp.
template <>
struct Fields<InterceptLimitsSettings> {
  using S = InterceptLimitsSettings;
  static constexpr auto all = std::tuple{
      Number<S, uint32_t>{"cert_cache_disk_entries", &S::cert_cache_disk_entries, 1, 10000000},
      Number<S, uint64_t>{"cert_cache_disk_bytes", &S::cert_cache_disk_bytes, 65536, uint64_t{1} << 40},
      Number<S, uint32_t>{"mints_per_second_per_client", &S::mints_per_second_per_client, 0, 100000},
      Number<S, uint32_t>{"mint_burst_per_client", &S::mint_burst_per_client, 1, 1000000},
      Number<S, uint64_t>{"tenant_bytes_per_second", &S::tenant_bytes_per_second, 0, 1000000000},
      Number<S, uint32_t>{"status_interval_ms", &S::status_interval_ms, 100, 3600000},
  };
};

template <>
struct Fields<LimitSettings> {
  using S = LimitSettings;
  static constexpr auto all = std::tuple{
      Number<S, uint32_t>{"rrl_responses_per_second", &S::rrl_responses_per_second, 0, 100000000},
      Number<S, uint32_t>{"rrl_slip", &S::rrl_slip, 0, 10},
      Number<S, uint32_t>{"rrl_ipv4_prefix", &S::rrl_ipv4_prefix, 8, 32},
      Number<S, uint32_t>{"rrl_ipv6_prefix", &S::rrl_ipv6_prefix, 16, 128},
      Number<S, uint32_t>{"tenant_queries_per_second", &S::tenant_queries_per_second, 0, 100000000},
      Number<S, uint32_t>{"upstream_queries_per_client", &S::upstream_queries_per_client, 0, 10000000},
      Number<S, uint32_t>{"upstream_queries_per_tenant", &S::upstream_queries_per_tenant, 0, 10000000},
      Number<S, uint32_t>{"unverified_udp_size", &S::unverified_udp_size, 512, 1232},
  };
};

template <>
struct Fields<FeedLimitsSettings> {
  using S = FeedLimitsSettings;
  static constexpr auto all = std::tuple{
      Number<S, uint64_t>{"max_entries", &S::max_entries, 1, 1000000000},
      Number<S, uint64_t>{"max_transfer_bytes", &S::max_transfer_bytes, 65536, uint64_t{1} << 40},
      Number<S, uint64_t>{"max_bytes", &S::max_bytes, 1024, uint64_t{1} << 40},
      Number<S, uint32_t>{"max_shrink", &S::max_shrink, 0, 100},
      Flag<S>{"allow_shrink", &S::allow_shrink},
  };
};

template <>
struct Fields<FeedSettings> {
  using S = FeedSettings;
  static constexpr auto all = std::tuple{
      Text<S>{"name", &S::name, Write::always, "every feed needs a name (its source in the store)", check_tenant_id},
      Choice<S, FeedKind>{"kind", &S::kind, Write::always},
      // Which of these a kind needs, and which it must not have: check_feed_kind.
      Text<S>{"primary", &S::primary, Write::unless_default, {}, check_host_port},
      Text<S>{"zone", &S::zone, Write::unless_default, {}, check_domain_name},
      Section<S, TsigSettings>{"tsig", &S::tsig},
      Text<S>{"url", &S::url, Write::unless_default, {}, check_feed_url},
      Choice<S, ListFormat>{"format", &S::format},
      Text<S>{"ca_file", &S::ca_file},
      Texts<S>{"categories", &S::categories, "a feed needs the categories its entries get", &S::category_marks},
      Flag<S>{"allow_public_suffixes", &S::allow_public_suffixes},
      Number<S, uint32_t>{"refresh", &S::refresh, 0, 7 * 86400},
      Number<S, uint32_t>{"timeout_ms", &S::timeout_ms, 100, 600000},
      Number<S, uint32_t>{"download_timeout_ms", &S::download_timeout_ms, 1000, 3600000},
      Number<S, uint32_t>{"retry", &S::retry, 1, 86400},
      Section<S, FeedLimitsSettings>{"limits", &S::limits},
  };
};

// Calls f(field) for each field of S, in order.
template <class S, class F>
constexpr void for_each_field(F&& f) {
  std::apply([&](const auto&... field) { (f(field), ...); }, Fields<S>::all);
}

// S's keys, in order: what an unknown key's message lists.
template <class S>
constexpr auto keys() {
  return std::apply([](const auto&... field) { return std::array<std::string_view, sizeof...(field)>{field.key...}; },
                    Fields<S>::all);
}

// A default-constructed S: the defaults a `Write::unless_default` field is compared with.
template <class S>
const S& defaults() {
  static const S d{};
  return d;
}

}  // namespace schema
}  // namespace sekisho::config

#include "config/local_names_schema.h"  // the Fields of a tenant's local names
