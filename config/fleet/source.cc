#include "config/fleet/source.h"

#include <filesystem>

#include "base/log.h"

namespace sekisho::config::fleet {

TenantFileOverrides overrides(const std::string& main_config, const Snapshot& s) {
  namespace fs = std::filesystem;
  TenantFileOverrides out;
  const fs::path dir = tenants_dir(main_config);
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec)) out[e.path().string()] = std::nullopt;
  for (const auto& d : s.tenants) out[(dir / (d.id + ".yaml")).string()] = d.text;
  return out;
}

std::string load_initial_snapshot(FleetState& state) {
  const std::string path = snapshot_path(state.settings(), state.main_config());
  Database db(state.settings(), "sekishod " + state.node());
  std::string why = db.error();
  if (db.ok()) {
    const auto version = db.schema_version();
    if (version && *version == static_cast<int>(migrations().size())) {
      if (auto s = db.snapshot()) {
        if (std::string e = save_snapshot(path, *s); !e.empty())
          log::error("fleet", "cannot save the snapshot", {{"path", path}, {"error", e}});
        log::info("fleet", "starting from the database's snapshot", {{"generation", s->generation}, {"tenants", s->tenants.size()}});
        state.set_snapshot(std::make_shared<const Snapshot>(std::move(*s)));
        return {};
      }
      why = db.error();
    } else if (version) {
      why = "the database's schema is version " + std::to_string(*version) + ", this program needs " +
            std::to_string(migrations().size()) + " (run `sekisho fleet " + (*version == 0 ? "init" : "migrate") + "`)";
    } else {
      why = db.error();
    }
  }
  std::string file_error;
  auto s = load_snapshot(path, file_error);
  if (!s) return "the fleet database is unreachable (" + why + ") and there is no last snapshot to start from (" + file_error + ")";
  log::warning("fleet", "database unreachable: running on last snapshot",
               {{"generation", s->generation}, {"tenants", s->tenants.size()}, {"snapshot", path}, {"error", why}});
  state.set_snapshot(std::make_shared<const Snapshot>(std::move(*s)));
  return {};
}

LoadResult FleetSource::read() const {
  const auto snapshot = state_->snapshot();
  return load_config_file(state_->main_config(), overrides(state_->main_config(), *snapshot));
}

std::string FleetSource::describe() const {
  return state_->main_config() + " with the fleet's tenants (node " + state_->node() + ")";
}

}  // namespace sekisho::config::fleet
