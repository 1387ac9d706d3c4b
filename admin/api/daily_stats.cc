#include "admin/api/daily_stats.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/log.h"
#include "base/systemd.h"
#include "policy/querylog/format.h"

namespace sekisho::admin {

std::string daily_stats_directory(const std::string& querylog_directory) {
  if (std::string state = base::state_directory("stats"); !state.empty()) return state;
  return querylog_directory.empty() ? std::string() : querylog_directory + "/stats";
}

DailyStats::Tenant& DailyStats::tenant(const std::string& id) {
  auto [it, inserted] = tenants_.try_emplace(id);
  if (!inserted || directory_.empty()) return it->second;
  const std::string path = directory_ + "/" + id + ".jsonl";
  std::ifstream in(path);
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    std::optional<int64_t> day;
    if (j.is_object() && j.contains("date") && j["date"].is_string()) day = querylog::parse_date(j["date"].get<std::string>());
    const auto count = [&](const char* key) { return j.is_object() && j.contains(key) && j[key].is_number_unsigned(); };
    if (!day || !count("queries") || !count("blocked")) {
      it->second.bad_lines = true;
      log::warning("admin", "daily stats: line skipped (expected {\"date\":\"YYYY-MM-DD\",\"queries\":N,\"blocked\":N})",
                   {{"file", path}, {"line", n}});
      continue;
    }
    it->second.base[*day] = {j["queries"].get<uint64_t>(), j["blocked"].get<uint64_t>()};
  }
  it->second.days = it->second.base;
  return it->second;
}

bool DailyStats::merge(Tenant& t, const querylog::TenantStats& live) {
  std::map<int64_t, Totals> memory;
  for (const auto& h : live.hourly) {
    if (!h.queries && !h.blocked) continue;
    Totals& m = memory[querylog::utc_day(h.hour_start_s * 1000000)];
    m.queries += h.queries;
    m.blocked += h.blocked;
  }
  bool grew = false;
  for (const auto& [day, m] : memory) {
    const Totals base = t.base.contains(day) ? t.base.at(day) : Totals{};
    Totals& d = t.days[day];
    const Totals sum{base.queries + m.queries, base.blocked + m.blocked};
    if (sum.queries > d.queries || sum.blocked > d.blocked) {
      d.queries = std::max(d.queries, sum.queries);
      d.blocked = std::max(d.blocked, sum.blocked);
      grew = true;
    }
  }
  t.dirty |= grew;
  return grew;
}

std::vector<DayTotal> DailyStats::series(const querylog::TenantStats& live, int64_t first_day, int64_t last_day) {
  Tenant& t = tenant(live.tenant_id);
  merge(t, live);
  std::vector<DayTotal> out;
  for (int64_t day = first_day; day <= last_day; ++day) {
    auto it = t.days.find(day);
    out.push_back(it == t.days.end() ? DayTotal{day, 0, 0} : DayTotal{day, it->second.queries, it->second.blocked});
  }
  return out;
}

size_t DailyStats::persist(const std::vector<querylog::TenantStats>& snapshot, int64_t today) {
  if (directory_.empty()) return 0;
  if (::mkdir(directory_.c_str(), 0750) != 0 && errno != EEXIST) {
    log::error("admin", "daily stats: cannot create the directory", {{"path", directory_}, {"error", std::strerror(errno)}});
    return 0;
  }
  size_t written = 0;
  for (const auto& live : snapshot) {
    Tenant& t = tenant(live.tenant_id);
    merge(t, live);
    if (t.dirty && write(live.tenant_id, t, today)) ++written;
  }
  return written;
}

bool DailyStats::write(const std::string& id, Tenant& t, int64_t today) {
  std::erase_if(t.days, [&](const auto& kv) { return kv.first <= today - kKeepDays; });
  std::erase_if(t.base, [&](const auto& kv) { return kv.first <= today - kKeepDays; });
  std::string bytes;
  for (const auto& [day, d] : t.days)
    bytes += nlohmann::ordered_json{{"date", querylog::date_text(day)}, {"queries", d.queries}, {"blocked", d.blocked}}.dump() + "\n";
  const std::string path = directory_ + "/" + id + ".jsonl";
  // The first rewrite of a file with lines we could not read keeps the original beside it.
  if (t.bad_lines && ::link(path.c_str(), (path + ".bad").c_str()) != 0 && errno != EEXIST) {
    log::error("admin", "daily stats not saved: cannot keep the unreadable file",
               {{"path", path + ".bad"}, {"error", std::strerror(errno)}});
    return false;
  }
  t.bad_lines = false;
  // The mode is 0640 narrowed by the service's umask (UMask=0077 in sekishod.service: 0600).
  base::AtomicWrite how;
  how.mode = 0640;
  how.umask_narrows = true;
  if (std::string error = base::write_file_atomically(path, bytes, how); !error.empty()) {
    log::error("admin", "daily stats not saved; retried at the next pass", {{"tenant", id}, {"error", error}});
    return false;
  }
  t.dirty = false;
  return true;
}

}  // namespace sekisho::admin
