// The tenant routes: tenants, their policy, their devices, and the policies list. Every change
// goes read → validate (tenant_file) → write → reload → audit; see api.h.
#include <algorithm>

#include "admin/api/api_internal.h"
#include "admin/api/json_body.h"
#include "admin/api/token.h"
#include "config/schema.h"
#include "admin/tenant_files/devices.h"
#include "admin/profiles/apple_profile.h"
#include "admin/profiles/device_endpoints.h"

namespace sekisho::admin {

using nlohmann::json;
using net::http::Request;
using net::http::Response;

// Which tenant fields a body may set: an operator creates with these (an empty policy gets a
// policy of its own) and changes how a tenant is identified and limited; a tenant-admin may
// change only what its own users see (display name and contact), never networks, max_devices,
// ecs (which sends part of its users' addresses to the upstreams), its rate limits,
// intercept_bandwidth (its own limits) or its local names (forward zones send its queries to
// the addresses they name).
static constexpr std::string_view kCreateFields[] = {"id", "name", "contact", "networks", "max_devices", "ecs", "policy",
                                                     "queries_per_second", "rrl_responses_per_second", "upstream_queries",
                                                     "upstream_queries_per_client", "unverified_udp_size", "intercept_bandwidth",
                                                     "local_records", "local_zones", "forward_zones"};
static constexpr std::string_view kCreateRequired[] = {"id"};
static constexpr std::string_view kOperatorPatchFields[] = {"name", "contact", "networks", "max_devices", "ecs",
                                                            "queries_per_second", "rrl_responses_per_second", "upstream_queries",
                                                            "upstream_queries_per_client", "unverified_udp_size", "intercept_bandwidth",
                                                            "local_records", "local_zones", "forward_zones"};
static constexpr std::string_view kTenantAdminPatchFields[] = {"name", "contact"};

Response Api::tenants(Context& c) {
  json list = json::array();
  for (const auto& t : c.live.settings->tenants)
    if (c.who.may_see(t.id)) list.push_back(tenant_to_json(t));
  return json_response(200, {{"tenants", list}, {"generation", c.live.generation}});
}

Response Api::tenant(Context& c, const std::string& id) {
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (r.status == config::TenantFileStatus::not_found || r.status == config::TenantFileStatus::io_error) return file_failure(r, host_.config_path);
  json j = tenant_to_json(r.content.tenant);
  j["file"] = without_server_paths(r.path, host_.config_path);  // relative to the configuration's directory
  j["managed"] = !r.etag.empty();  // false: defined in the main file or a shared file; read-only here
  Response out = json_response(200, j);
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

Response Api::create_tenant(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators create tenants");
  json body = parse_object(c.request.body);
  const std::optional<config::PolicySettings> from_template = take_template(body);
  config::TenantFileContent content;
  auto& t = content.tenant;
  tenant_from_json(body, kCreateFields, kCreateRequired, t);
  config::apply_derived_defaults(t);
  if (from_template && !t.policy.empty())
    throw ApiError(400, "give either a policy to use or a template to start a policy of its own from, not both", "template");
  if (t.policy.empty()) {
    // A policy of its own (filtering nothing yet, or the template's) that its tenant-admin may then edit.
    t.policy = t.id;
    config::PolicySettings p = from_template ? *from_template : config::PolicySettings{};
    p.name = t.id;
    content.policies.push_back(p);
  }
  if (find_tenant(*c.live.settings, t.id)) return error_response(409, "tenant '" + t.id + "' already exists", "id");
  auto w = config::write_tenant_file(host_.config_path, content, std::string(), host_.documents.get());
  if (!w.ok()) {
    if (w.status == config::TenantFileStatus::conflict)
      return error_response(409, without_server_paths(w.message, host_.config_path), "id");
    return file_failure(w, host_.config_path);
  }
  json after = tenant_to_json(w.content.tenant);
  apply_change(c, "create tenant", t.id, nullptr, after);
  Response out = json_response(201, after);
  out.set("etag", etag_header(w.etag));
  out.set("location", "/api/v1/tenants/" + t.id);
  return out;
}

// Operators change how a tenant is identified and limited; a tenant-admin may change only what
// its own users see (display name and contact), never networks or max_devices.
Response Api::patch_tenant(Context& c, const std::string& id) {
  json body = parse_object(c.request.body);
  const std::span<const std::string_view> allowed =
      c.who.is_operator() ? std::span<const std::string_view>(kOperatorPatchFields) : kTenantAdminPatchFields;
  only_keys(body, allowed);
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r, host_.config_path);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + without_server_paths(r.path, host_.config_path) +
                                   ", which the API does not rewrite; move it to tenants.d/" + id + ".yaml to manage it here");
  auto& t = r.content.tenant;
  const json before = tenant_to_json(t);
  tenant_from_json(body, allowed, {}, t);
  config::apply_derived_defaults(t);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request), host_.documents.get());
  if (!w.ok()) return file_failure(w, host_.config_path);
  json after = tenant_to_json(w.content.tenant);
  apply_change(c, "change tenant", id, before, after);
  Response out = json_response(200, after);
  out.set("etag", etag_header(w.etag));
  return out;
}

Response Api::delete_tenant(Context& c, const std::string& id) {
  if (!c.who.is_operator()) return error_response(403, "only operators remove tenants");
  json before = tenant_to_json(*find_tenant(*c.live.settings, id));
  auto r = config::remove_tenant_file(host_.config_path, id, if_match(c.request), host_.documents.get());
  if (!r.ok()) return file_failure(r, host_.config_path);
  apply_change(c, "remove tenant", id, before, nullptr);
  Response out;
  out.status = 204;
  return out;
}

Response Api::tenant_policy(Context& c, const std::string& id) {
  const auto* t = find_tenant(*c.live.settings, id);
  auto it = c.live.settings->policies.find(t->policy);
  if (it == c.live.settings->policies.end()) return error_response(404, "tenant '" + id + "' has no policy");
  json j = policy_to_json(it->second);
  int users = 0;
  for (const auto& other : c.live.settings->tenants) users += other.policy == t->policy;
  j["shared"] = users > 1;
  Response out = json_response(200, j);
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

// The tenant's policy is changed in place only when it is the tenant's own: defined in
// tenants.d/<id>.yaml and used by no other tenant. Otherwise (a policy in the main file, or
// shared with other tenants) the change goes to a new policy named after the tenant, in the
// tenant's file, and the tenant switches to it: nobody else's filtering ever changes.
Response Api::put_tenant_policy(Context& c, const std::string& id) {
  json body = parse_object(c.request.body);
  // "template": the policy starts as the template's; the body's other keys are set over it.
  const std::optional<config::PolicySettings> from_template = take_template(body);
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (r.status == config::TenantFileStatus::not_found || r.status == config::TenantFileStatus::io_error) return file_failure(r, host_.config_path);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + without_server_paths(r.path, host_.config_path) +
                                   ", which the API does not rewrite; move it to tenants.d/" + id + ".yaml to manage it here");
  const std::string current = r.content.tenant.policy;
  int users = 0;
  for (const auto& other : c.live.settings->tenants) users += other.policy == current && other.id != id;
  auto own = std::find_if(r.content.policies.begin(), r.content.policies.end(),
                          [&](const config::PolicySettings& p) { return p.name == current; });
  config::PolicySettings* target = nullptr;
  std::string forked_from;
  if (own != r.content.policies.end() && users == 0) {
    target = &*own;
  } else {
    auto same = std::find_if(r.content.policies.begin(), r.content.policies.end(),
                             [&](const config::PolicySettings& p) { return p.name == id; });
    if (same == r.content.policies.end() && c.live.settings->policies.count(id))
      return error_response(409, "tenant '" + id + "' uses policy '" + current +
                                     "', shared with other tenants or defined outside its file, and a policy named '" + id +
                                     "' already exists elsewhere; an operator must rename one");
    if (same == r.content.policies.end()) {
      config::PolicySettings p;
      p.name = id;
      r.content.policies.push_back(p);
      same = r.content.policies.end() - 1;
    }
    target = &*same;
    r.content.tenant.policy = id;
    forked_from = current;
  }
  policy_from_json(body, *target, from_template ? &*from_template : nullptr);
  json after = policy_to_json(*target);
  auto old = c.live.settings->policies.find(current);
  json before = old == c.live.settings->policies.end() ? json(nullptr) : policy_to_json(old->second);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request), host_.documents.get());
  if (!w.ok()) return file_failure(w, host_.config_path);
  apply_change(c, "set policy", id, before, after);
  if (!forked_from.empty()) after["forked_from"] = forked_from;
  Response out = json_response(200, after);
  out.set("etag", etag_header(w.etag));
  return out;
}

Response Api::devices(Context& c, const std::string& id) {
  const auto* t = find_tenant(*c.live.settings, id);
  json list = json::array();
  for (const auto& d : t->devices) list.push_back(device_json(d, *c.live.settings));
  Response out = json_response(200, {{"tenant", id}, {"devices", list}, {"max_devices", t->max_devices}});
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

Response Api::add_device(Context& c, const std::string& id) {
  json body = parse_object(c.request.body);
  only_keys(body, {"name"});
  auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get<std::string>().empty())
    throw ApiError(400, "a device needs a name (a string)", "name");
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r, host_.config_path);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + without_server_paths(r.path, host_.config_path) +
                                   ", which the API does not rewrite; move it to tenants.d/" + id + ".yaml to manage it here");
  // A token no other tenant holds either (the write's validation would refuse a clash).
  std::string token;
  do token = config::generate_device_token();
  while (c.live.policies->find_device(token));
  if (std::string why = config::add_device(r.content, name->get<std::string>(), token); !why.empty())
    return error_response(409, why, "name");
  const config::DeviceSettings d = r.content.tenant.devices.back();
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request), host_.documents.get());
  if (!w.ok()) return file_failure(w, host_.config_path);
  json after = device_json(d, *c.live.settings);
  apply_change(c, "add device", id, nullptr, {{"name", d.name}});
  Response out = json_response(201, after);
  out.set("etag", etag_header(w.etag));
  return out;
}

Response Api::revoke_device(Context& c, const std::string& id, const std::string& device) {
  auto r = config::read_tenant_file(host_.config_path, id, host_.documents.get());
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r, host_.config_path);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + without_server_paths(r.path, host_.config_path) + ", which the API does not rewrite");
  if (std::string why = config::revoke_device(r.content, device); !why.empty()) return error_response(404, why);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request), host_.documents.get());
  if (!w.ok()) return file_failure(w, host_.config_path);
  apply_change(c, "revoke device", id, {{"name", device}}, nullptr);
  Response out;
  out.status = 204;
  out.set("etag", etag_header(w.etag));
  return out;
}

// An Apple configuration profile pointing the device at our DoH URL with its token (the same
// profile `sekisho profile apple` writes, unsigned: signing keys stay with the CLI's operator).
Response Api::device_profile(Context& c, const std::string& id, const std::string& device) {
  const auto* t = find_tenant(*c.live.settings, id);
  auto d = std::find_if(t->devices.begin(), t->devices.end(), [&](const config::DeviceSettings& x) { return x.name == device; });
  if (d == t->devices.end()) return error_response(404, "no device '" + device + "' in tenant '" + id + "'");
  const auto& server = c.live.settings->server;
  if (server.public_name.empty())
    return error_response(409, "server.public_name is not set: a profile needs the name devices reach this server by");
  profiles::AppleProfileInput in;
  in.public_name = server.public_name;
  in.server_url = profiles::doh_url(server, d->token);
  in.tenant_id = id;
  in.tenant_name = t->name;
  in.device_name = d->name;
  Response out;
  out.set("content-type", "application/x-apple-aspen-config");
  out.set("content-disposition", "attachment; filename=\"" + id + "-" + std::to_string(d - t->devices.begin()) + ".mobileconfig\"");
  out.set("cache-control", "no-store");
  out.body = profiles::apple_profile_xml(in);
  return out;
}

Response Api::policies(Context& c) {
  json list = json::array();
  for (const auto& [name, p] : c.live.settings->policies) {
    json users = json::array();
    for (const auto& t : c.live.settings->tenants)
      if (t.policy == name && c.who.may_see(t.id)) users.push_back(t.id);
    // A tenant-admin sees only its tenant's policy, and never which other tenants share it.
    if (!c.who.is_operator() && users.empty()) continue;
    json j = policy_to_json(p);
    j["tenants"] = users;
    list.push_back(j);
  }
  return json_response(200, {{"policies", list}});
}

}  // namespace sekisho::admin
