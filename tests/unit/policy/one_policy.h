// tests/unit/policy/one_policy.h — one tenant `t` (10.0.0.0/8) with policy `p` as YAML gives
// it (`policy`: the policy's keys, indented four spaces), read by the real loader and compiled
// at `now`. Compile errors fail the case unless `errors_out` takes them.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/yaml/load.h"
#include "policy/policy.h"

namespace sekisho::test {

inline std::shared_ptr<const policy::PolicySnapshot> one_policy(const std::string& policy, int64_t now,
                                                                std::vector<config::ConfigError>* errors_out = nullptr) {
  const std::string yaml = "server: {listen: {dns: [\"127.0.0.1:0\"]}}\n"
                           "upstreams: [127.0.0.1:53]\n"
                           "tenants: [{id: t, networks: [\"10.0.0.0/8\"], policy: p}]\n"
                           "policies:\n"
                           "  p:\n" + policy;
  auto loaded = config::load_config_text(yaml, "policy.yaml");
  INFO((loaded.errors.empty() ? std::string() : loaded.errors[0].to_string()));
  REQUIRE(loaded.ok());
  std::vector<config::ConfigError> errors;
  auto snap = policy::compile_policies(loaded.settings, now, errors);
  if (errors_out) *errors_out = errors;
  else
    for (const auto& e : errors) FAIL(e.to_string());
  return snap;
}

}  // namespace sekisho::test
