// Tenants and policies as YAML, read through the field descriptions of config/schema.h: the
// main file's `tenants` and `policies` and every tenants.d file's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/yaml/reader.h"

namespace sekisho::config {

// `tenants:` — a list of tenant mappings.
void read_tenants(Reader& r, const YAML::Node& node, std::vector<TenantSettings>& out);
// `feeds:` — a list of feed mappings (sekisho-feed); a name listed twice is an error.
void read_feeds(Reader& r, const YAML::Node& node, std::vector<FeedSettings>& out);
// One policy mapping (at `path`, "policies.office"), named `name`.
void read_policy(Reader& r, const std::string& name, const YAML::Node& node, PolicySettings& out, const std::string& path);
// `policies:` — a mapping of policy name to policy; a name defined twice is an error.
void read_policies(Reader& r, const YAML::Node& node, std::map<std::string, PolicySettings>& out);

// `server.tcp:`, `forwarding:` and `intercept.limits:` — mappings whose keys and ranges config/schema.h describes.
void read_described(Reader& r, const YAML::Node& node, const std::string& path, TcpSettings& out);
void read_described(Reader& r, const YAML::Node& node, const std::string& path, ForwardingSettings& out);
void read_described(Reader& r, const YAML::Node& node, const std::string& path, LimitSettings& out);
void read_described(Reader& r, const YAML::Node& node, const std::string& path, InterceptLimitsSettings& out);
void read_described(Reader& r, const YAML::Node& node, const std::string& path, FleetSettings& out);

}  // namespace sekisho::config
