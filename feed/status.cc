// feed/status.cc — feed status files (see status.h).
#include "feed/status.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <filesystem>
#include <stdexcept>

#include "base/file.h"
#include "config/schema.h"

namespace sekisho::feed {

using json = nlohmann::json;

std::string state_directory(const config::Settings& settings) {
  if (!settings.feed_service.state_directory.empty()) return settings.feed_service.state_directory;
  return (std::filesystem::path(settings.category_db).parent_path() / "feed-status").string();
}

std::string status_path(const std::string& dir, const std::string& feed) { return dir + "/" + feed + ".json"; }

void describe(FeedStatus& s, const config::FeedSettings& f) {
  s.name = f.name;
  s.kind = std::string(config::name_of(f.kind));
  s.zone = f.zone;
  s.primary = f.primary;
  s.url = f.url;
  s.format = f.kind == config::FeedKind::http ? std::string(config::name_of(f.format)) : std::string();
}

bool healthy(const FeedStatus& s) {
  return s.last_success != 0 && s.last_result != "failed" && s.last_result != "refused" && !s.expired;
}

std::vector<FeedStatus> read_statuses(const config::Settings& settings, std::vector<std::string>* problems) {
  std::vector<FeedStatus> out;
  const std::string dir = state_directory(settings);
  for (const auto& f : settings.feeds) {
    std::optional<FeedStatus> st;
    try {
      st = read_status(status_path(dir, f.name));
    } catch (const std::exception& e) {
      if (problems) problems->push_back(e.what());
    }
    if (!st) st = FeedStatus{};
    describe(*st, f);
    out.push_back(std::move(*st));
  }
  return out;
}

std::string to_json(const FeedStatus& s) {
  json j = {{"name", s.name},
            {"kind", s.kind},
            {"zone", s.zone},
            {"primary", s.primary},
            {"url", s.url},
            {"format", s.format},
            {"last_attempt", s.last_attempt},
            {"last_success", s.last_success},
            {"last_result", s.last_result},
            {"last_transfer", s.last_transfer},
            {"last_trigger", s.last_trigger},
            {"etag", s.etag},
            {"last_modified", s.last_modified},
            {"last_refusal", s.last_refusal},
            {"last_refusal_time", s.last_refusal_time},
            {"refusals_total", s.refusals_total},
            {"healthy", healthy(s)},
            {"last_duration_ms", s.last_duration_ms},
            {"serial", s.serial ? json(*s.serial) : json(nullptr)},
            {"entries", s.entries},
            {"refused_records", s.refused_records},
            {"first_refusal", s.first_refusal},
            {"consecutive_failures", s.consecutive_failures},
            {"failures_total", s.failures_total},
            {"last_error", s.last_error},
            {"last_error_time", s.last_error_time},
            {"expired", s.expired},
            {"next_attempt", s.next_attempt},
            {"refresh", s.refresh},
            {"retry", s.retry},
            {"expire", s.expire}};
  return j.dump(2) + "\n";
}

std::optional<FeedStatus> read_status(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) {
    if (errno == ENOENT) return std::nullopt;
    throw std::runtime_error(path + ": cannot read");
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": not a feed status file");
  FeedStatus s;
  auto get = [&](const char* key, auto& out) {
    if (j.contains(key) && !j[key].is_null()) j[key].get_to(out);
  };
  get("name", s.name);
  get("kind", s.kind);
  get("zone", s.zone);
  get("primary", s.primary);
  get("url", s.url);
  get("format", s.format);
  get("last_attempt", s.last_attempt);
  get("last_success", s.last_success);
  get("last_result", s.last_result);
  get("last_transfer", s.last_transfer);
  get("last_trigger", s.last_trigger);
  get("etag", s.etag);
  get("last_modified", s.last_modified);
  get("last_refusal", s.last_refusal);
  get("last_refusal_time", s.last_refusal_time);
  get("refusals_total", s.refusals_total);
  get("last_duration_ms", s.last_duration_ms);
  if (j.contains("serial") && j["serial"].is_number_unsigned()) s.serial = j["serial"].get<uint32_t>();
  get("entries", s.entries);
  get("refused_records", s.refused_records);
  get("first_refusal", s.first_refusal);
  get("consecutive_failures", s.consecutive_failures);
  get("failures_total", s.failures_total);
  get("last_error", s.last_error);
  get("last_error_time", s.last_error_time);
  get("expired", s.expired);
  get("next_attempt", s.next_attempt);
  get("refresh", s.refresh);
  get("retry", s.retry);
  get("expire", s.expire);
  return s;
}

std::string write_status(const std::string& path, const FeedStatus& s) {
  base::AtomicWrite how;
  how.mode = 0644;  // readable by sekishod (/metrics) and the admins
  return base::write_file_atomically(path, to_json(s), how);
}

}  // namespace sekisho::feed
