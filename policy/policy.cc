#include "policy/policy.h"

#include <algorithm>
#include <cstdio>

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
  std::string out;
  for (int d = 0; d < 7; ++d)
    if (days & (1 << d)) out += (out.empty() ? "" : ",") + std::string(config::kDayNames[d]);
  return out;
}

std::string describe_window(const config::ScheduleSettings& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %02d:%02d-%02d:%02d ", s.from_minute / 60, s.from_minute % 60, s.to_minute / 60,
                s.to_minute % 60);
  return describe_days(s.days) + buf + s.timezone;
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

bool CompiledSchedule::active_at(int64_t utc) const {
  const int64_t local = utc + zone.offset_at(utc);
  int64_t day_number = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  const int weekday = static_cast<int>(((day_number % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday; 0 = Monday
  const int minute = static_cast<int>((local - day_number * 86400) / 60);
  const auto day_on = [&](int d) { return (days >> d) & 1; };
  if (from_minute <= to_minute) return day_on(weekday) && minute >= from_minute && minute < to_minute;
  // The window wraps past midnight: its start belongs to the listed day.
  return (day_on(weekday) && minute >= from_minute) || (day_on((weekday + 6) % 7) && minute < to_minute);
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
    cp.block = compile_categories(registry, p.block, p.block_marks, p.mark, path + ".block", errors) |
               compile_groups(registry, p.block_groups, p.block_group_marks, p.mark, path + ".block_groups", errors);
    compile_list(p.allow, path + ".allow", cp.allow, errors);
    compile_list(p.deny, path + ".deny", cp.deny, errors);
    for (size_t i = 0; i < p.schedule.size(); ++i) {
      const auto& s = p.schedule[i];
      const std::string spath = path + ".schedule[" + std::to_string(i) + "]";
      CompiledSchedule cs;
      cs.block = compile_categories(registry, s.block, {}, s.mark, spath + ".block", errors);
      cs.days = s.days;
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
