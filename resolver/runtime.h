// One configuration generation as the event loops use it: the settings plus the objects built
// from them. Immutable once published (upstream health is atomics inside). A reload builds a
// new Runtime; loops pick it up at their next batch; in-flight queries keep the one they
// started with alive through their shared_ptr.
#pragma once

#include <cstdint>
#include <memory>

#include "config/settings.h"
#include "policy/policy.h"
#include "resolver/limits/usage.h"
#include "resolver/local_answers.h"
#include "resolver/upstream/upstreams.h"

namespace sekisho::resolver {

struct Runtime {
  Runtime(config::Settings s, std::shared_ptr<const policy::PolicySnapshot> p, uint64_t gen)
      : settings(std::move(s)), upstreams(settings.upstreams), policies(std::move(p)),
        tenant_usage(std::make_unique<limits::TenantUsage>(policies ? policies->tenants.size() : 0)), generation(gen) {
    build_local_names();
  }
  config::Settings settings;
  upstream::UpstreamSet upstreams;
  std::shared_ptr<const policy::PolicySnapshot> policies;
  // Each tenant's quota and waiting queries under this configuration (atomics inside; a reload
  // starts from zero, and queries parked under this one release into it).
  std::unique_ptr<limits::TenantUsage> tenant_usage;
  uint64_t generation;
  // Each tenant's local names (index = tenant), and the resolvers of every tenant's forward
  // zones: view v (1..) asks forward_zone_upstreams[v - 1], each an UpstreamSet with its own
  // health, as the global upstreams (view 0) have.
  std::vector<LocalAnswers> local;
  std::vector<std::unique_ptr<upstream::UpstreamSet>> forward_zone_upstreams;

  const upstream::UpstreamSet& upstreams_for(uint16_t view) const {
    return view == 0 || view > forward_zone_upstreams.size() ? upstreams : *forward_zone_upstreams[view - 1];
  }

 private:
  void build_local_names() {
    if (!policies) return;
    local.reserve(policies->tenants.size());
    for (const auto& t : policies->tenants) {
      const auto first_view = static_cast<uint16_t>(forward_zone_upstreams.size() + 1);
      for (const auto& zone : t.local.forward)
        forward_zone_upstreams.push_back(std::make_unique<upstream::UpstreamSet>(zone.upstreams));
      local.emplace_back(t.local, first_view);
    }
  }
};

}  // namespace sekisho::resolver
