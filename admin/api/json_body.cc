#include "admin/api/json_body.h"

#include <algorithm>
#include <cstdio>

#include "policy/querylog/format.h"
#include "policy/store/categories.h"

namespace sekisho::admin {
namespace {

using nlohmann::json;

constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr const char* kActions[] = {"blockpage", "nxdomain", "nodata", "refused"};
constexpr const char* kLogModes[] = {"full", "anonymized", "none"};

std::string time_of_day(uint16_t minutes) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u:%02u", minutes / 60u, minutes % 60u);
  return buf;
}

// "09:00" → 540; "24:00" ends the day (as the YAML loader reads it).
bool parse_time_of_day(const std::string& text, uint16_t& minutes) {
  if (text.size() != 5 || text[2] != ':') return false;
  for (int i : {0, 1, 3, 4})
    if (text[i] < '0' || text[i] > '9') return false;
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return false;
  minutes = static_cast<uint16_t>(h * 60 + m);
  return true;
}

std::vector<std::string> string_list(const json& body, const char* key, const std::string& field) {
  std::vector<std::string> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array()) throw ApiError(400, "expected a list of strings", field);
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) throw ApiError(400, "expected a string", field + "[" + std::to_string(i) + "]");
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

bool boolean(const json& body, const char* key, bool fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ApiError(400, "expected true or false", key);
  return it->get<bool>();
}

std::string string_value(const json& body, const char* key, const std::string& field) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) throw ApiError(400, "expected a string", field);
  return it->get<std::string>();
}

template <size_t N>
int choice(const json& body, const char* key, const char* const (&options)[N], int fallback) {
  const std::string text = string_value(body, key, key);
  if (text.empty()) return fallback;
  for (size_t i = 0; i < N; ++i)
    if (text == options[i]) return static_cast<int>(i);
  std::string list;
  for (const char* o : options) list += (list.empty() ? "" : " | ") + std::string(o);
  throw ApiError(400, "'" + text + "' is not one of " + list, key);
}

json patterns(const std::vector<config::ListEntrySettings>& list) {
  json out = json::array();
  for (const auto& e : list) out.push_back(e.pattern);
  return out;
}

}  // namespace

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw ApiError(400, "the body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the body must be a JSON object");
  return j;
}

void only_keys(const json& object, std::initializer_list<const char*> known, const std::string& prefix) {
  for (const auto& item : object.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture those
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw ApiError(400, "unknown field (expected one of: " + list + ")", prefix + key);
    }
  }
}

json policy_to_json(const config::PolicySettings& p) {
  json schedule = json::array();
  for (const auto& s : p.schedule) {
    json days = json::array();
    for (int d = 0; d < 7; ++d)
      if (s.days & (1 << d)) days.push_back(kDays[d]);
    schedule.push_back({{"block", s.block}, {"days", days}, {"from", time_of_day(s.from_minute)},
                        {"to", time_of_day(s.to_minute)}, {"timezone", s.timezone}});
  }
  return {{"name", p.name},
          {"block", p.block},
          {"allow", patterns(p.allow)},
          {"deny", patterns(p.deny)},
          {"schedule", schedule},
          {"safe_search", p.safe_search},
          {"action", kActions[static_cast<int>(p.action)]},
          {"log", kLogModes[static_cast<int>(p.log)]},
          {"deep_inspection", p.deep_inspection}};
}

void policy_from_json(const json& body, config::PolicySettings& out) {
  only_keys(body, {"block", "allow", "deny", "schedule", "safe_search", "action", "log", "deep_inspection"});
  config::PolicySettings p;
  p.name = out.name;
  p.block = string_list(body, "block", "block");
  for (auto& s : string_list(body, "allow", "allow")) p.allow.push_back({s, {}});
  for (auto& s : string_list(body, "deny", "deny")) p.deny.push_back({s, {}});
  if (auto it = body.find("schedule"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) throw ApiError(400, "expected a list of schedule entries", "schedule");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      const std::string field = "schedule[" + std::to_string(i) + "]";
      if (!e.is_object()) throw ApiError(400, "expected an object", field);
      only_keys(e, {"block", "days", "from", "to", "timezone"}, field + ".");
      config::ScheduleSettings s;
      s.block = string_list(e, "block", field + ".block");
      if (s.block.empty()) throw ApiError(400, "a schedule entry needs at least one category to block", field + ".block");
      if (e.contains("days")) {
        s.days = 0;
        for (const auto& day : string_list(e, "days", field + ".days")) {
          auto d = std::find(std::begin(kDays), std::end(kDays), day);
          if (d == std::end(kDays)) throw ApiError(400, "'" + day + "' is not a day (mon tue wed thu fri sat sun)", field + ".days");
          s.days |= static_cast<uint8_t>(1u << (d - std::begin(kDays)));
        }
      }
      for (const char* key : {"from", "to"}) {
        const std::string text = string_value(e, key, field + "." + key);
        if (!text.empty() && !parse_time_of_day(text, key[0] == 'f' ? s.from_minute : s.to_minute))
          throw ApiError(400, "\"" + text + "\" is not a time of day (HH:MM)", field + "." + key);
      }
      if (std::string tz = string_value(e, "timezone", field + ".timezone"); !tz.empty()) s.timezone = tz;
      p.schedule.push_back(std::move(s));
    }
  }
  p.safe_search = boolean(body, "safe_search", false);
  p.deep_inspection = boolean(body, "deep_inspection", false);
  p.action = static_cast<config::BlockAction>(choice(body, "action", kActions, 0));
  p.log = static_cast<config::LogMode>(choice(body, "log", kLogModes, 0));
  out = std::move(p);
}

json tenant_to_json(const config::TenantSettings& t) {
  json networks = json::array(), devices = json::array();
  for (const auto& n : t.networks) networks.push_back(n.text);
  for (const auto& d : t.devices) devices.push_back({{"name", d.name}, {"token", d.token}});
  return {{"id", t.id},           {"name", t.name},       {"contact", t.contact},
          {"policy", t.policy},   {"networks", networks}, {"max_devices", t.max_devices},
          {"devices", devices}};
}

json stats_to_json(const querylog::TenantStats& s) {
  json by_action = json::object();
  for (size_t a = 0; a < querylog::kActions; ++a)
    if (s.by_action[a]) by_action[std::string(querylog::action_name(static_cast<querylog::QueryAction>(a)))] = s.by_action[a];
  json by_category = json::object();
  for (unsigned id = 0; id < s.blocked_by_category.size(); ++id)
    if (s.blocked_by_category[id])
      if (const auto* c = policy::category_by_id(static_cast<uint8_t>(id))) by_category[std::string(c->slug)] = s.blocked_by_category[id];
  auto top = [](const std::vector<querylog::TopEntry>& list, const char* key) {
    json out = json::array();
    for (const auto& e : list) out.push_back({{key, e.key}, {"count", e.count}, {"error", e.error}});
    return out;
  };
  json hourly = json::array();
  for (const auto& h : s.hourly) {
    std::string hour;
    querylog::append_time(hour, h.hour_start_s * 1000000);
    hourly.push_back({{"start", hour}, {"queries", h.queries}, {"blocked", h.blocked}});
  }
  return {{"tenant", s.tenant_id},
          {"queries", s.queries},
          {"blocked", s.blocked},
          {"by_action", by_action},
          {"blocked_by_category", by_category},
          {"top_blocked_names", top(s.top_blocked_names, "name")},
          {"top_clients", top(s.top_clients, "client")},
          {"active_devices", s.active_devices},
          {"max_devices", s.max_devices},
          {"over_device_limit", s.over_device_limit},
          {"hourly", hourly}};
}

}  // namespace sekisho::admin
