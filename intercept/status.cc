#include "intercept/status.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <filesystem>
#include <stdexcept>

#include "base/file.h"

namespace sekisho::intercept {

using json = nlohmann::json;

const std::vector<CounterDescription>& counter_descriptions() {
  static const std::vector<CounterDescription> list = {
#define SEKISHO_INTERCEPT_DESCRIBE(type, field, family, labels, help) \
  {#type == std::string_view("Gauge") ? "gauge" : "counter", #field, family, labels, help, &InterceptCounters::field},
      SEKISHO_INTERCEPT_COUNTERS(SEKISHO_INTERCEPT_DESCRIBE)
#undef SEKISHO_INTERCEPT_DESCRIBE
  };
  return list;
}

std::string status_directory(const config::Settings& settings) {
  if (!settings.intercept.status_directory.empty()) return settings.intercept.status_directory;
  if (settings.category_db.empty()) return {};
  return (std::filesystem::path(settings.category_db).parent_path() / "intercept-status").string();
}

std::string status_path(const std::string& dir) { return dir + "/intercept.json"; }

namespace {

json destinations_json(const std::vector<DestinationBytes>& list) {
  json out = json::array();
  for (const auto& d : list) out.push_back({{"host", d.host}, {"bytes_in", d.bytes_in}, {"bytes_out", d.bytes_out}});
  return out;
}

std::vector<DestinationBytes> destinations_from(const json& j) {
  std::vector<DestinationBytes> out;
  if (!j.is_array()) return out;
  for (const auto& d : j)
    out.push_back({d.value("host", ""), d.value("bytes_in", uint64_t{0}), d.value("bytes_out", uint64_t{0})});
  return out;
}

}  // namespace

std::string to_json(const InterceptStatus& s) {
  json counters = json::object();
  for (const auto& c : counter_descriptions()) counters[std::string(c.field)] = s.counters.*c.member;
  json tenants = json::array();
  for (const auto& t : s.tenants)
    tenants.push_back({{"tenant", t.tenant},
                       {"bytes_in", t.bytes_in},
                       {"bytes_out", t.bytes_out},
                       {"limit_bytes_per_second", t.limit_bytes_per_second},
                       {"bandwidth_pauses", t.bandwidth_pauses},
                       {"last_limited", t.last_limited},
                       {"destinations", destinations_json(t.destinations)},
                       {"limited_by", destinations_json(t.limited_by)}});
  return json{{"time", s.time}, {"started", s.started}, {"counters", counters}, {"tenants", tenants}}.dump(1) + "\n";
}

std::optional<InterceptStatus> read_status(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) {
    if (errno == ENOENT) return std::nullopt;
    throw std::runtime_error(path + ": cannot read");
  }
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": not an intercept status file");
  try {
    InterceptStatus s;
    s.time = j.value("time", int64_t{0});
    s.started = j.value("started", int64_t{0});
    if (const auto c = j.find("counters"); c != j.end() && c->is_object())
      for (const auto& d : counter_descriptions()) s.counters.*d.member = c->value(std::string(d.field), uint64_t{0});
    if (const auto ts = j.find("tenants"); ts != j.end() && ts->is_array())
      for (const auto& t : *ts) {
        TenantTraffic tt;
        tt.tenant = t.value("tenant", "");
        tt.bytes_in = t.value("bytes_in", uint64_t{0});
        tt.bytes_out = t.value("bytes_out", uint64_t{0});
        tt.limit_bytes_per_second = t.value("limit_bytes_per_second", uint64_t{0});
        tt.bandwidth_pauses = t.value("bandwidth_pauses", uint64_t{0});
        tt.last_limited = t.value("last_limited", int64_t{0});
        if (t.contains("destinations")) tt.destinations = destinations_from(t["destinations"]);
        if (t.contains("limited_by")) tt.limited_by = destinations_from(t["limited_by"]);
        s.tenants.push_back(std::move(tt));
      }
    return s;
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not an intercept status file (" + e.what() + ")");
  }
}

}  // namespace sekisho::intercept
