#include "policy/policy.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "base/civil_date.h"
#include "config/schema.h"

namespace sekisho::policy {
namespace {

config::ConfigError error_at(const config::SourceMark& mark, std::string path, std::string message) {
  return config::ConfigError{mark.file, mark.line, mark.column, std::move(path), std::move(message)};
}

std::string describe_days(uint8_t days) {
  if (days == config::kEveryDay) return "daily";
  if (days == 0x1f) return "mon-fri";
  if (days == 0x60) return "sat-sun";
  if (days == 0xe0) return "sat-sun,holiday";
  std::string out;
  for (unsigned d = 0; d < std::size(config::kDayNames); ++d)
    if (days & (1u << d)) out += (out.empty() ? "" : ",") + std::string(config::kDayNames[d]);
  return out;
}

std::string describe_window(const config::ScheduleSettings& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %02d:%02d-%02d:%02d ", s.from_minute / 60, s.from_minute % 60, s.to_minute / 60,
                s.to_minute % 60);
  std::string out = describe_days(s.days) + buf + s.timezone;
  if (!s.since.empty()) out += " from " + s.since;
  if (!s.until.empty()) out += " until " + s.until;
  return out;
}

CategorySet compile_categories(const CategoryRegistry& registry, const std::vector<std::string>& slugs,
                               const std::vector<config::SourceMark>& marks, const config::SourceMark& fallback,
                               const std::string& path, std::vector<config::ConfigError>& errors) {
  CategorySet set;
  for (size_t i = 0; i < slugs.size(); ++i) {
    if (const CategoryInfo* c = registry.by_slug(slugs[i])) {
      set.add(c->id);
      continue;
    }
    std::string known;
    for (const auto& c : registry.all())
      if (c.kind != CategoryKind::kAllow) known += (known.empty() ? "" : " ") + std::string(c.slug);
    errors.push_back(error_at(i < marks.size() ? marks[i] : fallback, path,
                              "unknown category '" + slugs[i] + "' (known: " + known + ")"));
  }
  return set;
}

// The categories of the groups `slugs` names, as the registry has them (a file's categories in a
// group count too).
CategorySet compile_groups(const CategoryRegistry& registry, const std::vector<std::string>& slugs,
                           const std::vector<config::SourceMark>& marks, const config::SourceMark& fallback,
                           const std::string& path, std::vector<config::ConfigError>& errors) {
  CategorySet set;
  for (size_t i = 0; i < slugs.size(); ++i) {
    const config::CategoryGroupInfo* g = config::category_group(slugs[i]);
    if (g && g->kind != CategoryKind::kAllow) {
      set |= registry.members(g->id);
      continue;
    }
    std::string known;
    for (const auto& o : config::category_groups())
      if (o.kind != CategoryKind::kAllow) known += (known.empty() ? "" : " ") + std::string(o.slug);
    errors.push_back(error_at(i < marks.size() ? marks[i] : fallback, path,
                              "unknown category group '" + slugs[i] + "' (known: " + known + ")"));
  }
  return set;
}

// One level's categories and groups as the policy lists them.
struct LevelLists {
  Level level;
  std::string_view key;  // "block", "monitor", …: the categories' key; groups' is key + "_groups"
  const std::vector<std::string>* categories;
  const std::vector<config::SourceMark>* category_marks;
  const std::vector<std::string>* groups;
  const std::vector<config::SourceMark>* group_marks;
};

// The levels of README "Levels": a category's own level beats its group's; a category listed at
// two levels is an error; a category whose groups give it two levels gets the strictest.
void compile_levels(const CategoryRegistry& registry, const config::PolicySettings& p, const std::string& path,
                    CompiledPolicy& cp, std::vector<config::ConfigError>& errors) {
  static const std::vector<std::string> kNone;
  static const std::vector<config::SourceMark> kNoMarks;
  const LevelLists lists[] = {
      {Level::block, "block", &p.block, &p.block_marks, &p.block_groups, &p.block_group_marks},
      {Level::unblock, "unblock", &p.unblock, &p.unblock_marks, &p.unblock_groups, &p.unblock_group_marks},
      {Level::read_only, "read_only", &p.read_only, &p.read_only_marks, &p.read_only_groups, &p.read_only_group_marks},
      {Level::monitor, "monitor", &p.monitor, &p.monitor_marks, &p.monitor_groups, &p.monitor_group_marks},
      {Level::allow, "allow_categories", &p.allow_categories, &p.allow_category_marks, &kNone, &kNoMarks},
  };
  CategorySet own[5], by_group[5], explicit_any, grouped_any;
  for (size_t i = 0; i < std::size(lists); ++i) {
    const LevelLists& l = lists[i];
    const std::string key(l.key);
    own[i] = compile_categories(registry, *l.categories, *l.category_marks, p.mark, path + "." + key, errors);
    for (size_t j = 0; j < i; ++j) {
      const CategorySet both = own[i] & own[j];
      if (both.empty()) continue;
      const CategoryInfo* c = registry.by_id(static_cast<uint8_t>(both.first()));
      errors.push_back(error_at(p.mark, path + "." + key,
                                "category '" + std::string(c ? c->slug : "?") + "' is listed at two levels (" +
                                    std::string(lists[j].key) + " and " + key + ")"));
    }
    explicit_any |= own[i];
    if (l.groups->empty()) continue;
    by_group[i] = compile_groups(registry, *l.groups, *l.group_marks, p.mark, path + "." + key + "_groups", errors);
    for (size_t j = 0; j < i; ++j)
      for (const auto& g : *l.groups)
        if (std::find(lists[j].groups->begin(), lists[j].groups->end(), g) != lists[j].groups->end())
          errors.push_back(error_at(p.mark, path + "." + key + "_groups",
                                    "group '" + g + "' is listed at two levels (" + std::string(lists[j].key) +
                                        "_groups and " + key + "_groups)"));
  }
  // Strictest first: what a stricter group level took, a more lenient one does not get.
  for (size_t i = 0; i < std::size(lists); ++i) {
    CategorySet level = own[i];
    const CategorySet from_groups = by_group[i].without(explicit_any | grouped_any);
    grouped_any |= by_group[i];
    level |= from_groups;
    switch (lists[i].level) {
      case Level::block: cp.block |= level; break;
      case Level::unblock: cp.block |= level; cp.unblock |= level; break;
      case Level::read_only: cp.read_only |= level; break;
      case Level::monitor: cp.monitor |= level; break;
      case Level::allow: break;
    }
  }
  cp.watched = cp.block | cp.read_only | cp.monitor;
}

void compile_list(const std::vector<config::ListEntrySettings>& entries, const std::string& path, DomainList& out,
                  std::vector<config::ConfigError>& errors) {
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string why;
    if (!out.add(entries[i].pattern, why))
      errors.push_back(error_at(entries[i].mark, path + "[" + std::to_string(i) + "]",
                                "'" + entries[i].pattern + "' is not a domain name: " + why));
  }
}

}  // namespace

bool CompiledSchedule::active_at(int64_t utc, const HolidayCalendar& holidays) const {
  const int64_t local = utc + zone.offset_at(utc);
  const int64_t day_number = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  const int minute = static_cast<int>((local - day_number * 86400) / 60);
  // A holiday is day `holiday` only: a school's mon-fri window does not run on one.
  const auto day_on = [&](int64_t d) {
    if (d < first_day || d > last_day) return false;
    const unsigned bit = holidays.holiday(d) ? config::kHolidayBit : base::weekday_of(d);
    return ((days >> bit) & 1) != 0;
  };
  if (from_minute <= to_minute) return minute >= from_minute && minute < to_minute && day_on(day_number);
  // The window wraps past midnight: its start belongs to the listed day.
  return (minute >= from_minute && day_on(day_number)) || (minute < to_minute && day_on(day_number - 1));
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::allow: return "allow";
    case Level::monitor: return "monitor";
    case Level::read_only: return "read_only";
    case Level::unblock: return "unblock";
    case Level::block: return "block";
  }
  return "allow";
}

Level CompiledPolicy::level_of(uint8_t category) const {
  if (unblock.contains(category)) return Level::unblock;
  if (block.contains(category)) return Level::block;
  if (read_only.contains(category)) return Level::read_only;
  if (monitor.contains(category)) return Level::monitor;
  return Level::allow;
}

std::shared_ptr<const PolicySnapshot> compile_policies(const config::Settings& settings, int64_t now_utc,
                                                       std::vector<config::ConfigError>& errors) {
  auto snap = std::make_shared<PolicySnapshot>();
  snap->blockpage = settings.blockpage;
  snap->enabled = !settings.tenants.empty();
  if (!settings.categories.empty())
    snap->categories = std::make_shared<const CategoryRegistry>(config::checked_categories(settings.categories, errors));
  const CategoryRegistry& registry = *snap->categories;

  std::vector<std::string> policy_names;
  for (const auto& [name, p] : settings.policies) {
    const std::string path = "policies." + name;
    CompiledPolicy cp;
    cp.name = name;
    cp.categories = &registry;
    compile_levels(registry, p, path, cp, errors);
    cp.monitor_mode = p.mode == config::PolicyMode::monitor;
    std::vector<std::pair<int64_t, int64_t>> closed;
    for (size_t i = 0; i < p.calendar.size(); ++i) {
      int64_t first = 0, last = 0;
      if (std::string why = config::parse_date_range(p.calendar[i], first, last); !why.empty())
        errors.push_back(error_at(i < p.calendar_marks.size() ? p.calendar_marks[i] : p.mark,
                                  path + ".calendar[" + std::to_string(i) + "]", why));
      else
        closed.emplace_back(first, last);
    }
    cp.holidays = HolidayCalendar(p.holidays, std::move(closed));
    compile_list(p.allow, path + ".allow", cp.allow, errors);
    compile_list(p.deny, path + ".deny", cp.deny, errors);
    for (size_t i = 0; i < p.schedule.size(); ++i) {
      const auto& s = p.schedule[i];
      const std::string spath = path + ".schedule[" + std::to_string(i) + "]";
      CompiledSchedule cs;
      cs.block = compile_categories(registry, s.block, {}, s.mark, spath + ".block", errors);
      cs.days = s.days;
      if (cs.days == (1u << config::kHolidayBit) && cp.holidays.empty())
        errors.push_back(error_at(s.mark, spath + ".days",
                                  "the entry runs on holidays only, but the policy has no holidays (set `holidays` or `calendar`)"));
      // The readers refuse a bad date (config::check_date); a settings struct built otherwise
      // gets the same message here rather than an entry without its limit.
      for (const auto& [text, key, day] : {std::tuple{&s.since, ".since", &cs.first_day}, std::tuple{&s.until, ".until", &cs.last_day}}) {
        if (text->empty()) continue;
        if (auto d = base::parse_date(*text)) *day = *d;
        else errors.push_back(error_at(s.mark, spath + key, config::check_date(*text)));
      }
      if (cs.first_day != INT64_MIN && cs.last_day != INT64_MAX && cs.last_day < cs.first_day)
        errors.push_back(error_at(s.mark, spath + ".until", "'until' " + s.until + " is before 'since' " + s.since));
      cs.from_minute = s.from_minute;
      cs.to_minute = s.to_minute;
      if (s.from_minute == s.to_minute)
        errors.push_back(error_at(s.mark, spath, "'from' and 'to' are the same time: the window is empty"));
      std::string why;
      auto zone = TimeZone::load(s.timezone, now_utc, why);
      if (!zone) {
        errors.push_back(error_at(s.timezone_mark, spath + ".timezone", why));
      } else {
        cs.zone = std::move(*zone);
      }
      cs.description = describe_window(s);
      cp.schedule.push_back(std::move(cs));
    }
    cp.safe_search = p.safe_search;
    cp.action = p.action;
    cp.log = p.log;
    cp.deep_inspection = p.deep_inspection;
    policy_names.push_back(name);
    snap->policies.push_back(std::move(cp));
  }

  TenantTableBuilder networks;
  for (size_t t = 0; t < settings.tenants.size(); ++t) {
    const auto& ts = settings.tenants[t];
    const std::string path = "tenants[" + std::to_string(t) + "]";
    for (size_t k = 0; k < t; ++k)
      if (settings.tenants[k].id == ts.id)
        errors.push_back(error_at(ts.mark, path + ".id", "tenant id '" + ts.id + "' is used twice (first at " +
                                                          settings.tenants[k].mark.file + ":" +
                                                          std::to_string(settings.tenants[k].mark.line) + ")"));
    Tenant tenant;
    tenant.id = ts.id;
    tenant.name = ts.name;
    tenant.max_devices = ts.max_devices;
    tenant.forward_client_subnet = ts.ecs == config::EcsMode::forward;
    const config::LimitSettings& global = settings.limits;
    const auto own = [](uint32_t value, uint32_t fallback) { return value != 0 ? value : fallback; };
    tenant.limits = {own(ts.queries_per_second, global.tenant_queries_per_second),
                     own(ts.rrl_responses_per_second, global.rrl_responses_per_second),
                     own(ts.upstream_queries, global.upstream_queries_per_tenant),
                     own(ts.upstream_queries_per_client, global.upstream_queries_per_client),
                     own(ts.unverified_udp_size, global.unverified_udp_size)};
    if (ts.unverified_udp_size != 0 && ts.unverified_udp_size < 512)
      errors.push_back(error_at(ts.mark, path + ".unverified_udp_size",
                                "must be 0 (the global limits.unverified_udp_size) or 512..1232: every client takes 512 "
                                "(RFC 1035)"));
    tenant.contact = ts.contact;
    tenant.local = compile_local_names(ts, path, errors);
    const auto tenant_index = static_cast<uint16_t>(snap->tenants.size());
    for (size_t d = 0; d < ts.devices.size(); ++d) {
      const auto& dev = ts.devices[d];
      tenant.devices.push_back(dev.name);
      if (dev.token.empty()) continue;  // the loader already reported it
      auto [it, fresh] = snap->devices_by_token.emplace(dev.token, DeviceRef{tenant_index, static_cast<uint32_t>(d)});
      if (!fresh)
        errors.push_back(error_at(dev.mark, path + ".devices[" + std::to_string(d) + "].token",
                                  "token '" + dev.token + "' is already used by device '" +
                                      (it->second.tenant < snap->tenants.size()
                                           ? snap->tenants[it->second.tenant].devices[it->second.device]
                                           : tenant.devices[it->second.device]) +
                                      "'"));
    }
    auto it = std::find(policy_names.begin(), policy_names.end(), ts.policy);
    if (it == policy_names.end()) {
      errors.push_back(error_at(ts.policy_mark, path + ".policy", "unknown policy '" + ts.policy + "'"));
    } else {
      tenant.policy = static_cast<uint16_t>(it - policy_names.begin());
    }
    const auto index = static_cast<uint16_t>(snap->tenants.size());
    for (size_t n = 0; n < ts.networks.size(); ++n) {
      const auto& net = ts.networks[n];
      uint16_t other = kNoTenant;
      if (!networks.add(net.family, net.address, net.prefix_length, index, &other)) {
        // Nested networks are fine (the most specific wins); the very same one twice is not.
        errors.push_back(error_at(net.mark, path + ".networks[" + std::to_string(n) + "]",
                                  "network " + net.text + " is already assigned to tenant '" +
                                      (other < snap->tenants.size() ? snap->tenants[other].id : ts.id) + "'"));
      }
    }
    snap->tenants.push_back(std::move(tenant));
  }
  snap->networks = networks.build();
  if (snap->tenants.size() >= kNoTenant) errors.push_back(config::ConfigError{settings.source, 0, 0, "tenants", "too many tenants"});
  return snap;
}

std::vector<std::string> PolicySnapshot::tenant_ids() const {
  std::vector<std::string> ids;
  ids.reserve(tenants.size());
  for (const auto& t : tenants) ids.push_back(t.id);
  return ids;
}

}  // namespace sekisho::policy
