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
#include "resolver/upstream/upstreams.h"

namespace sekisho::resolver {

struct Runtime {
  Runtime(config::Settings s, std::shared_ptr<const policy::PolicySnapshot> p, uint64_t gen)
      : settings(std::move(s)), upstreams(settings.upstreams), policies(std::move(p)),
        tenant_usage(std::make_unique<limits::TenantUsage>(policies ? policies->tenants.size() : 0)), generation(gen) {}
  config::Settings settings;
  upstream::UpstreamSet upstreams;
  std::shared_ptr<const policy::PolicySnapshot> policies;
  // Each tenant's quota and waiting queries under this configuration (atomics inside; a reload
  // starts from zero, and queries parked under this one release into it).
  std::unique_ptr<limits::TenantUsage> tenant_usage;
  uint64_t generation;
};

}  // namespace sekisho::resolver
