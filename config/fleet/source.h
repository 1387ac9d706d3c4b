// A fleet node's configuration source: the main YAML file (server settings, upstreams, admin
// tokens, the fleet section itself) with its tenants.d replaced by the database's documents
// (the snapshot in FleetState), each read as the file tenants.d/<id>.yaml would be. Files in
// the node's own tenants.d are not read: a fleet node's tenants are the fleet's.
#pragma once

#include <memory>
#include <string>

#include "config/fleet/state.h"
#include "config/yaml/load.h"

namespace sekisho::config::fleet {

// The loader overrides that put `s`'s documents in place of the files in main_config's tenants.d.
TenantFileOverrides overrides(const std::string& main_config, const Snapshot& s);

// The snapshot a node starts from, put in `state`: the database's when it answers (saved to
// disk at once), else the last one saved. Returns "" or why neither was possible.
std::string load_initial_snapshot(FleetState& state);

class FleetSource final : public ConfigSource {
 public:
  explicit FleetSource(std::shared_ptr<FleetState> state) : state_(std::move(state)) {}
  LoadResult read() const override;
  std::string describe() const override;
  bool reloadable() const override { return true; }
  const std::shared_ptr<FleetState>& state() const { return state_; }

 private:
  std::shared_ptr<FleetState> state_;
};

}  // namespace sekisho::config::fleet
