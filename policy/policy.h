// Policies and tenants compiled from the settings into immutable structures. A reload compiles
// a new PolicySnapshot and publishes it whole (with the resolver's Runtime); the query path
// only reads it. compile_policies() is also what `check-config` runs, so both report the same
// errors (unknown categories, unknown policies, duplicate networks, bad time zones, bad names).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/source.h"
#include "config/settings.h"
#include "policy/domain_list.h"
#include "policy/holidays.h"
#include "policy/local_names.h"
#include "policy/store/categories.h"
#include "policy/tenants.h"
#include "policy/timezone.h"
#include "base/string_map.h"

namespace sekisho::policy {

struct CompiledSchedule {
  CategorySet block;
  uint8_t days = 0xff;  // bit 0 Monday … bit 6 Sunday, bit 7 a holiday (config::kDayNames)
  uint16_t from_minute = 0;
  uint16_t to_minute = 24 * 60;
  // Local days (from 1970-01-01) the entry is limited to, inclusive: `since` and `until`.
  int64_t first_day = INT64_MIN;
  int64_t last_day = INT64_MAX;
  TimeZone zone = TimeZone::utc();
  std::string description;  // "mon-fri 09:00-18:00 Asia/Tokyo", for EDE text and logs

  // `holidays`: the policy's (a holiday is day `holiday`, not its weekday).
  bool active_at(int64_t utc_seconds, const HolidayCalendar& holidays = HolidayCalendar::none()) const;
};

// What a policy does with a category (README "Levels"), from the most lenient.
// unblock blocks like block; it marks the categories a temporary unblock may lift (that flow is
// not built yet: issue 21 item 2).
enum class Level : uint8_t { allow, monitor, read_only, unblock, block };
// "allow", "monitor", "read_only", "unblock", "block": the policy keys' words.
std::string_view level_name(Level level);

struct CompiledPolicy {
  std::string name;
  // The registry of the snapshot this policy belongs to (decide.h names and groups categories
  // with it); a policy built by hand gets the built-ins.
  const CategoryRegistry* categories = &CategoryRegistry::builtins();
  CategorySet block;      // level block and unblock
  CategorySet unblock;    // of `block`, those at level unblock
  CategorySet monitor;    // resolved, logged as monitored
  CategorySet read_only;  // steered to sekisho-intercept, which refuses posting
  CategorySet watched;    // block | monitor | read_only: what a name's categories are checked against
  bool monitor_mode = false;  // mode: monitor — nothing is blocked or steered, all is recorded
  HolidayCalendar holidays;
  std::vector<CompiledSchedule> schedule;
  DomainList allow;
  DomainList deny;
  bool safe_search = false;
  config::BlockAction action = config::BlockAction::blockpage;
  config::LogMode log = config::LogMode::full;
  bool deep_inspection = false;

  bool filters() const { return !watched.empty() || !schedule.empty() || !deny.empty() || safe_search; }
  Level level_of(uint8_t category) const;
};

// A tenant's limits as the engine applies them: its own where it set one, else the global
// `limits` (config::LimitSettings; README "Rate limits and quotas"). 0 = none.
struct TenantLimits {
  uint32_t queries_per_second = 0;
  uint32_t rrl_responses_per_second = 0;
  uint32_t upstream_queries = 0;             // waiting on upstreams, the whole tenant
  uint32_t upstream_queries_per_client = 0;  // waiting on upstreams, one client of it
  uint32_t unverified_udp_size = 1232;
};

struct Tenant {
  std::string id;
  std::string name;
  std::string contact;
  uint16_t policy = 0;  // index into PolicySnapshot::policies
  uint32_t max_devices = 0;
  bool forward_client_subnet = false;  // ecs: forward (config/settings.h)
  TenantLimits limits;
  std::vector<std::string> devices;  // device names, in configuration order
  LocalNames local;                  // local records, local zones, forward zones (split DNS)
};

// A DoH/DoT device token resolved to whose it is.
struct DeviceRef {
  uint16_t tenant = 0;  // index into PolicySnapshot::tenants
  uint32_t device = 0;  // index into that tenant's devices
};

struct PolicySnapshot {
  bool enabled = false;  // no tenants configured: every client may resolve, nothing is filtered
  // The categories this configuration names: the built-ins plus Settings::categories. Owned
  // here, so whoever holds the snapshot holds the registry its policies were compiled with.
  std::shared_ptr<const CategoryRegistry> categories = CategoryRegistry::builtins_shared();
  TenantTable networks;
  std::vector<Tenant> tenants;
  std::vector<CompiledPolicy> policies;
  config::BlockpageSettings blockpage;
  StringMap<DeviceRef> devices_by_token;

  const DeviceRef* find_device(std::string_view token) const {
    auto it = devices_by_token.find(token);
    return it == devices_by_token.end() ? nullptr : &it->second;
  }
  // The tenants' ids in index order (what the query log and the block-page templates key on).
  std::vector<std::string> tenant_ids() const;
};

// Compiles, starting with the category registry (the built-ins plus settings.categories,
// checked again with config::CategoryChecker); appends every problem to `errors` (file:line
// from the settings' marks).
std::shared_ptr<const PolicySnapshot> compile_policies(const config::Settings& settings, int64_t now_utc,
                                                       std::vector<config::ConfigError>& errors);

}  // namespace sekisho::policy
