#include "config/fleet/state.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/systemd.h"

namespace sekisho::config::fleet {

std::string save_snapshot(const std::string& path, const Snapshot& s) {
  nlohmann::json j;
  j["format"] = 1;
  j["generation"] = s.generation;
  j["tenants"] = nlohmann::json::array();
  for (const auto& d : s.tenants) j["tenants"].push_back({{"id", d.id}, {"version", d.version}, {"document", d.text}});
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty())
    if (std::string e = base::make_directories(dir, 0750); !e.empty()) return e;
  base::AtomicWrite how;
  how.mode = 0600;
  return base::write_file_atomically(path, j.dump(1) + "\n", how);
}

std::optional<Snapshot> load_snapshot(const std::string& path, std::string& error) {
  auto bytes = base::read_file(path);
  if (!bytes) {
    error = "no snapshot at " + path;
    return std::nullopt;
  }
  try {
    const auto j = nlohmann::json::parse(*bytes);
    if (j.at("format").get<int>() != 1) {
      error = path + ": unknown snapshot format";
      return std::nullopt;
    }
    Snapshot s;
    s.generation = j.at("generation").get<int64_t>();
    for (const auto& t : j.at("tenants"))
      s.tenants.push_back(Document{t.at("id").get<std::string>(), t.at("document").get<std::string>(), t.at("version").get<int64_t>()});
    return s;
  } catch (const std::exception& e) {
    error = path + ": not a fleet snapshot (" + e.what() + ")";
    return std::nullopt;
  }
}

std::string snapshot_path(const FleetSettings& s, const std::string& main_config) {
  if (!s.snapshot.empty()) return s.snapshot;
  if (std::string state = base::state_directory("fleet-snapshot.json"); !state.empty()) return state;
  return (std::filesystem::path(main_config).parent_path() / "fleet-snapshot.json").string();
}

std::shared_ptr<const Snapshot> FleetState::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void FleetState::set_snapshot(std::shared_ptr<const Snapshot> s) {
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(s);
}

void FleetState::put_local(const std::string& id, const std::string* text, int64_t version) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<Snapshot>(*snapshot_);
  auto it = std::find_if(next->tenants.begin(), next->tenants.end(), [&](const Document& d) { return d.id == id; });
  if (it != next->tenants.end() && it->version >= version) return;
  if (!text) {
    if (it != next->tenants.end()) next->tenants.erase(it);
  } else if (it != next->tenants.end()) {
    it->text = *text;
    it->version = version;
  } else {
    next->tenants.push_back(Document{id, *text, version});
    std::sort(next->tenants.begin(), next->tenants.end(), [](const Document& a, const Document& b) { return a.id < b.id; });
  }
  snapshot_ = std::move(next);
}

FleetStatus FleetState::status() const {
  FleetStatus s;
  s.connected = connected.load();
  s.generation = snapshot()->generation;
  s.applied_total = applied_total.load();
  s.disconnects_total = disconnects_total.load();
  s.last_apply_seconds = static_cast<double>(last_apply_us.load()) / 1e6;
  s.last_commit_to_apply_seconds = static_cast<double>(last_commit_to_apply_us.load()) / 1e6;
  return s;
}

}  // namespace sekisho::config::fleet
