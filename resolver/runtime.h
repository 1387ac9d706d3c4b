// One configuration generation as the event loops use it: the settings plus the objects built
// from them. Immutable once published (upstream health is atomics inside). A reload builds a
// new Runtime; loops pick it up at their next batch; in-flight queries keep the one they
// started with alive through their shared_ptr.
#pragma once

#include <cstdint>
#include <memory>

#include "config/settings.h"
#include "policy/policy.h"
#include "resolver/upstream/upstreams.h"

namespace sekisho::resolver {

struct Runtime {
  Runtime(config::Settings s, std::shared_ptr<const policy::PolicySnapshot> p, uint64_t gen)
      : settings(std::move(s)), upstreams(settings.upstreams), policies(std::move(p)), generation(gen) {}
  config::Settings settings;
  upstream::UpstreamSet upstreams;
  std::shared_ptr<const policy::PolicySnapshot> policies;
  uint64_t generation;
};

}  // namespace sekisho::resolver
