// Request bodies and resources as JSON. Reading is strict: unknown fields, wrong types and
// malformed values are refused with the field named, so a typo never silently falls back to a
// default (the same rule the YAML loader follows).
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/settings.h"
#include "policy/querylog/stats.h"
#include "policy/store/categories.h"

namespace sekisho::admin {

// A client mistake in a request: HTTP status, message, and the field at fault ("" = the body).
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string field = {})
      : std::runtime_error(message), status(status), field(std::move(field)) {}
  int status;
  std::string field;
};

// Parses a request body as one JSON object; throws ApiError 400 when it is not one.
nlohmann::json parse_object(const std::string& body);

// Refuses (400) any key of `object` not in `known`, naming it with `prefix`.
void only_keys(const nlohmann::json& object, std::initializer_list<const char*> known, const std::string& prefix = {});
void only_keys(const nlohmann::json& object, std::span<const std::string_view> known, const std::string& prefix = {});

// Policies and tenants go through the field descriptions of config/schema.h, like the YAML
// reader and writer: the same keys, types, ranges and enum names. In a body, an absent or null
// field keeps the value it replaces; an empty string means the field's default.

nlohmann::json policy_to_json(const config::PolicySettings& p);
// Replaces every field of `out` except name and marks from a PUT body (missing fields get the
// defaults, as in YAML). Category slugs, patterns and time zones are checked by the loader.
// `base`: what keys the body does not give keep (a template's policy); else the defaults.
void policy_from_json(const nlohmann::json& body, config::PolicySettings& out, const config::PolicySettings* base = nullptr);

nlohmann::json tenant_to_json(const config::TenantSettings& t);
// Sets the tenant fields of `body` whose keys are in `allowed` (it refuses any other key with
// 400); fields not in the body keep their values. Networks are parsed by the loader. Then
// refuses (400) a field of `required` left empty.
void tenant_from_json(const nlohmann::json& body, std::span<const std::string_view> allowed,
                      std::span<const std::string_view> required, config::TenantSettings& t);

// TenantStats → JSON: totals, by action and category (slugs of `categories`, the live
// configuration's), top lists, the hourly series (the daily one comes from DailyStats, which
// keeps more days than the writer).
nlohmann::json stats_to_json(const querylog::TenantStats& s, const policy::CategoryRegistry& categories);

}  // namespace sekisho::admin
