#include "admin/api/querylog_search.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "policy/querylog/format.h"

namespace sekisho::admin {
namespace {

struct Cursor {
  int64_t day = INT64_MAX;
  uint64_t line = UINT64_MAX;  // continue with lines before this one
};

Cursor parse_cursor(const std::string& text) {
  Cursor c;
  if (text.empty()) return c;
  const size_t colon = text.find(':');
  auto day = colon == std::string::npos ? std::nullopt : querylog::parse_date(std::string_view(text).substr(0, colon));
  uint64_t line = 0;
  const char* begin = text.data() + (colon == std::string::npos ? 0 : colon + 1);
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), line);
  if (!day || ec != std::errc() || ptr != text.data() + text.size())
    throw std::invalid_argument("cursor: expected the next_cursor of a previous page");
  c.day = *day;
  c.line = line;
  return c;
}

std::string time_text(int64_t us) {
  std::string out;
  querylog::append_time(out, us);
  return out;
}

// The days with a file, newest first, within [from, to].
std::vector<int64_t> days_on_disk(const std::string& directory, int64_t first, int64_t last) {
  std::vector<int64_t> days;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(directory, ec)) {
    const std::string name = e.path().filename().string();
    constexpr std::string_view prefix = "queries-", suffix = ".jsonl";
    if (name.size() != prefix.size() + 10 + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    auto day = querylog::parse_date(std::string_view(name).substr(prefix.size(), 10));
    if (day && *day >= first && *day <= last) days.push_back(*day);
  }
  std::sort(days.rbegin(), days.rend());
  return days;
}

bool matches(const nlohmann::json& r, const LogQuery& q, const std::string& from, const std::string& to) {
  auto str = [&](const char* key) -> std::string {
    auto it = r.find(key);
    return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!q.tenant.empty() && str("tenant") != q.tenant) return false;
  const std::string time = str("time");
  if (!from.empty() && time < from) return false;
  if (!to.empty() && time >= to) return false;
  if (!q.client.empty() && str("client") != q.client) return false;
  if (!q.device.empty() && str("device") != q.device) return false;
  if (!q.action.empty() && str("action") != q.action) return false;
  if (!q.name.empty() && str("name").find(q.name) == std::string::npos) return false;
  return true;
}

}  // namespace

LogPage search_querylog(const std::string& directory, const LogQuery& query) {
  LogPage page;
  const Cursor cursor = parse_cursor(query.cursor);
  const size_t limit = std::max<size_t>(query.limit, 1);
  // Times in the files are fixed-width UTC text, so comparing text compares instants.
  const std::string from = query.from_us == INT64_MIN ? std::string() : time_text(query.from_us);
  const std::string to = query.to_us == INT64_MAX ? std::string() : time_text(query.to_us);
  const int64_t first_day = query.from_us == INT64_MIN ? INT64_MIN : querylog::utc_day(query.from_us);
  const int64_t last_day = std::min(cursor.day, query.to_us == INT64_MAX ? INT64_MAX : querylog::utc_day(query.to_us - 1));
  // Cheap pre-filter before parsing JSON: a line of another tenant never needs parsing.
  const std::string tenant_field = query.tenant.empty() ? std::string() : "\"tenant\":\"" + query.tenant + "\"";

  for (int64_t day : days_on_disk(directory, first_day, last_day)) {
    const size_t need = limit - page.records.size();
    std::ifstream in(directory + "/queries-" + querylog::date_text(day) + ".jsonl");
    std::deque<std::pair<uint64_t, nlohmann::json>> last;  // the newest `need` matches so far
    bool dropped = false;
    std::string line;
    const uint64_t stop = day == cursor.day ? cursor.line : UINT64_MAX;
    for (uint64_t n = 0; n < stop && std::getline(in, line); ++n) {
      ++page.lines_scanned;
      if (!tenant_field.empty() && line.find(tenant_field) == std::string::npos) continue;
      nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object()) {
        ++page.lines_unreadable;
        continue;
      }
      if (!matches(r, query, from, to)) continue;
      last.emplace_back(n, std::move(r));
      if (last.size() > need) {
        last.pop_front();
        dropped = true;
      }
    }
    for (auto it = last.rbegin(); it != last.rend(); ++it) page.records.push_back(std::move(it->second));
    if (page.records.size() >= limit) {
      if (dropped || day != first_day)
        page.next_cursor = querylog::date_text(day) + ":" + std::to_string(last.front().first);
      break;
    }
  }
  return page;
}

}  // namespace sekisho::admin
