#include "admin/api/api.h"

#include <arpa/inet.h>
#include <lmdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "admin/api/json_body.h"
#include "admin/api/querylog_search.h"
#include "admin/api/token.h"
#include "admin/config/configuration.h"
#include "admin/config/tenant_file.h"
#include "admin/profiles/apple_profile.h"
#include "admin/profiles/device_endpoints.h"
#include "policy/decide.h"
#include "resolver/dns/wire.h"
#include "policy/import/idna.h"
#include "policy/querylog/format.h"
#include "policy/safe_search.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"

namespace sekisho::admin {

using nlohmann::json;
using net::http::Request;
using net::http::Response;

struct Api::Context {
  const Request& request;
  Principal who;
  LiveConfig live;
  std::vector<std::string> segments;  // after /api/v1/, percent-decoded
  std::string source;                 // client address, for the audit log and rate limits
};

namespace {

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.set("content-type", "application/json; charset=utf-8");
  r.set("cache-control", "no-store");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response error_response(int status, const std::string& message, const std::string& field = {}) {
  return json_response(status, {{"error", message}, {"field", field}});
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; '+' is a space in query strings only.
std::string percent_decode(std::string_view in, bool query) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() + 0 && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else if (query && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

// The client's address without the port: failures are limited per host, not per connection.
std::string host_of(const net::SocketAddress& a) {
  char text[INET6_ADDRSTRLEN] = "";
  if (a.family() == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr, text, sizeof text);
  else if (a.family() == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr, text, sizeof text);
  return text;
}

std::string param(const Request& r, std::string_view key) { return percent_decode(r.query_param(key), true); }

// Quoted ETag for a tenant file digest, and the digest back from If-Match (nullopt = absent).
std::string etag_header(const std::string& etag) { return "\"" + etag + "\""; }
config::ExpectedEtag if_match(const Request& r) {
  std::string_view v = r.header("if-match");
  if (v.empty() || v == "*") return std::nullopt;  // "*": any current version (RFC 9110 §13.1.1)
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty()) return std::string("-");  // never matches: "" would mean "must not exist"
  return std::string(v);
}

// "policies.acme.block[1]" → "block[1]"; "tenants[0].networks[2]" → "networks[2]".
std::string field_of(const std::string& path) {
  if (path.rfind("policies.", 0) == 0) {
    const size_t dot = path.find('.', 9);
    return dot == std::string::npos ? std::string() : path.substr(dot + 1);
  }
  if (path.rfind("tenants[", 0) == 0) {
    const size_t dot = path.find("].");
    return dot == std::string::npos ? std::string() : path.substr(dot + 2);
  }
  return path;
}

// A tenant_file failure as an HTTP answer.
Response file_failure(const config::TenantFileResult& r) {
  using S = config::TenantFileStatus;
  switch (r.status) {
    case S::not_found: return error_response(404, r.message);
    case S::not_managed: return error_response(409, r.message);
    case S::conflict: return error_response(412, r.message);
    case S::invalid: {
      json errors = json::array();
      for (const auto& e : r.errors)
        errors.push_back({{"field", field_of(e.path)}, {"message", e.message}, {"where", e.to_string()}});
      // The first problem in words, so a client that shows only "error" still shows the cause.
      std::string message = r.message;
      if (!r.errors.empty()) {
        message = r.errors[0].message;
        if (r.errors.size() > 1) message += " (and " + std::to_string(r.errors.size() - 1) + " more)";
      }
      json body = {{"error", message}, {"field", r.errors.empty() ? "" : field_of(r.errors[0].path)}, {"errors", errors}};
      return json_response(422, body);
    }
    default: return error_response(500, r.message);
  }
}

// "2026-11-25", "2026-11-25T09:30:00Z", "2026-11-25T09:30:00.5Z" or Unix seconds → µs.
std::optional<int64_t> parse_instant(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t s = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
    if (ec != std::errc() || s > INT64_MAX / 1000000) return std::nullopt;
    return s * 1000000;
  }
  auto day = querylog::parse_date(std::string_view(text).substr(0, 10));
  if (!day) return std::nullopt;
  int64_t us = *day * 86400LL * 1000000;
  if (text.size() == 10) return us;
  std::tm tm{};
  int h = 0, m = 0, s = 0, consumed = 0;
  if (std::sscanf(text.c_str() + 10, "T%2d:%2d:%2d%n", &h, &m, &s, &consumed) < 2 || h > 23 || m > 59 || s > 60) return std::nullopt;
  (void)tm;
  if (consumed == 0) {  // no seconds
    if (std::sscanf(text.c_str() + 10, "T%2d:%2d%n", &h, &m, &consumed) != 2) return std::nullopt;
    s = 0;
  }
  us += (h * 3600LL + m * 60 + s) * 1000000;
  std::string_view rest = std::string_view(text).substr(10 + consumed);
  if (!rest.empty() && rest[0] == '.') {
    int64_t scale = 100000;
    size_t i = 1;
    for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i, scale /= 10) us += (rest[i] - '0') * scale;
    rest.remove_prefix(i);
  }
  if (rest != "Z") return std::nullopt;
  return us;
}

const config::TenantSettings* find_tenant(const config::Settings& s, const std::string& id) {
  for (const auto& t : s.tenants)
    if (t.id == id) return &t;
  return nullptr;
}

json device_json(const config::DeviceSettings& d, const config::Settings& s) {
  json j = {{"name", d.name}, {"token", d.token}};
  if (std::string url = profiles::doh_url(s.server, d.token); !url.empty()) j["doh_url"] = url;
  if (std::string host = profiles::dot_hostname(s.server, d.token); !host.empty()) j["dot_hostname"] = host;  // Android "Private DNS"
  return j;
}

std::string method_list(std::initializer_list<const char*> methods) {
  std::string out;
  for (const char* m : methods) out += (out.empty() ? "" : ", ") + std::string(m);
  return out;
}

Response not_allowed(std::initializer_list<const char*> methods) {
  Response r = error_response(405, "method not allowed here (allowed: " + method_list(methods) + ")");
  r.set("allow", method_list(methods));
  return r;
}

}  // namespace

Api::Api(ApiHost host, Authenticator::Limits limits) : host_(std::move(host)), auth_(limits) {}
Api::~Api() = default;

int64_t Api::now_s() const { return host_.now_s ? host_.now_s() : static_cast<int64_t>(std::time(nullptr)); }

bool Api::operator_only(const Request& request, Response& denied) {
  LiveConfig live = host_.live();
  auto result = auth_.check(request.header("authorization"), host_of(request.peer), live.settings->admin.tokens, now_s());
  if (result.outcome == Authenticator::Outcome::ok && result.principal.is_operator()) return true;
  if (result.outcome == Authenticator::Outcome::limited) {
    denied = error_response(429, "too many failed attempts from this address; retry later");
    denied.set("retry-after", std::to_string(result.retry_after_s));
  } else if (result.outcome == Authenticator::Outcome::ok) {
    denied = error_response(403, "an operator token is needed");
  } else {
    denied = error_response(401, "a valid Bearer token is needed");
    denied.set("www-authenticate", "Bearer");
  }
  return false;
}

Response Api::handle(const Request& request) {
  if (request.path == "/healthz") return json_response(200, {{"status", "ok"}});
  constexpr std::string_view kPrefix = "/api/v1/";
  if (request.path.rfind(kPrefix, 0) != 0) return error_response(404, "no such resource: " + request.path);
  LiveConfig live = host_.live();
  const std::string source = host_of(request.peer);
  auto result = auth_.check(request.header("authorization"), source, live.settings->admin.tokens, now_s());
  switch (result.outcome) {
    case Authenticator::Outcome::ok: break;
    case Authenticator::Outcome::limited: {
      Response r = error_response(429, "too many failed attempts from this address; retry later");
      r.set("retry-after", std::to_string(result.retry_after_s));
      return r;
    }
    default: {
      Response r = error_response(401, result.outcome == Authenticator::Outcome::missing
                                            ? "a Bearer token is needed (Authorization: Bearer <token>)"
                                            : "the token is not valid");
      r.set("www-authenticate", "Bearer");
      return r;
    }
  }
  if (request.body.size() > kMaxBody)
    return error_response(413, "the body is larger than " + std::to_string(kMaxBody) + " bytes");
  Context c{request, result.principal, std::move(live), {}, source};
  std::string_view rest = std::string_view(request.path).substr(kPrefix.size());
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    c.segments.push_back(percent_decode(rest.substr(0, slash), false));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (audit_path_ != c.live.settings->admin.audit_log) {
    audit_path_ = c.live.settings->admin.audit_log;
    audit_.set_path(audit_path_);
  }
  try {
    return route(c);
  } catch (const ApiError& e) {
    return error_response(e.status, e.what(), e.field);
  } catch (const std::exception& e) {
    return error_response(500, std::string("internal error: ") + e.what());
  }
}

Response Api::route(Context& c) {
  const auto& s = c.segments;
  const std::string& m = c.request.method;
  const bool get = m == "GET" || m == "HEAD";
  if (s.empty()) return error_response(404, "no such resource");
  const std::string& top = s[0];
  if (s.size() == 1) {
    if (top == "me") {
      if (!get) return not_allowed({"GET"});
      json j = {{"name", c.who.name}, {"role", c.who.is_operator() ? "operator" : "tenant-admin"}};
      if (!c.who.is_operator()) j["tenant"] = c.who.tenant;
      return json_response(200, j);
    }
    if (top == "tenants") {
      if (get) return tenants(c);
      if (m == "POST") return create_tenant(c);
      return not_allowed({"GET", "POST"});
    }
    if (top == "policies") return get ? policies(c) : not_allowed({"GET"});
    if (top == "categories") return get ? categories(c) : not_allowed({"GET"});
    if (top == "check") return get ? check(c) : not_allowed({"GET"});
    if (top == "querylog") return get ? querylog(c) : not_allowed({"GET"});
    if (top == "stats") return get ? stats(c) : not_allowed({"GET"});
    if (top == "store") return get ? store_status(c) : not_allowed({"GET"});
    if (top == "reload") return m == "POST" ? reload(c) : not_allowed({"POST"});
  }
  if (top == "tenants" && s.size() >= 2) {
    const std::string& id = s[1];
    // Before anything else: another tenant's resources do not exist for a tenant-admin.
    if (!c.who.may_see(id) || !find_tenant(*c.live.settings, id)) return error_response(404, "no tenant '" + id + "'");
    if (s.size() == 2) {
      if (get) return tenant(c, id);
      if (m == "PATCH") return patch_tenant(c, id);
      if (m == "DELETE") return delete_tenant(c, id);
      return not_allowed({"GET", "PATCH", "DELETE"});
    }
    if (s.size() == 3 && s[2] == "policy") {
      if (get) return tenant_policy(c, id);
      if (m == "PUT") return put_tenant_policy(c, id);
      return not_allowed({"GET", "PUT"});
    }
    if (s.size() == 3 && s[2] == "devices") {
      if (get) return devices(c, id);
      if (m == "POST") return add_device(c, id);
      return not_allowed({"GET", "POST"});
    }
    if (s.size() == 4 && s[2] == "devices") return m == "DELETE" ? revoke_device(c, id, s[3]) : not_allowed({"DELETE"});
    if (s.size() == 5 && s[2] == "devices" && s[4] == "profile") return get ? device_profile(c, id, s[3]) : not_allowed({"GET"});
  }
  return error_response(404, "no such resource: " + c.request.path);
}

Response Api::tenants(Context& c) {
  json list = json::array();
  for (const auto& t : c.live.settings->tenants)
    if (c.who.may_see(t.id)) list.push_back(tenant_to_json(t));
  return json_response(200, {{"tenants", list}, {"generation", c.live.generation}});
}

Response Api::tenant(Context& c, const std::string& id) {
  auto r = config::read_tenant_file(host_.config_path, id);
  if (r.status == config::TenantFileStatus::not_found || r.status == config::TenantFileStatus::io_error) return file_failure(r);
  json j = tenant_to_json(r.content.tenant);
  j["file"] = r.path;
  j["managed"] = !r.etag.empty();  // false: defined in the main file or a shared file; read-only here
  Response out = json_response(200, j);
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

Response Api::create_tenant(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators create tenants");
  json body = parse_object(c.request.body);
  only_keys(body, {"id", "name", "contact", "networks", "max_devices", "policy"});
  config::TenantFileContent content;
  auto& t = content.tenant;
  auto str = [&](const char* key) -> std::string {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return {};
    if (!it->is_string()) throw ApiError(400, "expected a string", key);
    return it->get<std::string>();
  };
  t.id = str("id");
  if (t.id.empty()) throw ApiError(400, "a tenant needs an id", "id");
  t.name = str("name");
  if (t.name.empty()) t.name = t.id;
  t.contact = str("contact");
  if (auto it = body.find("networks"); it != body.end()) {
    if (!it->is_array()) throw ApiError(400, "expected a list of networks", "networks");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) throw ApiError(400, "expected a network such as 10.1.0.0/16", "networks[" + std::to_string(i) + "]");
      config::NetworkSettings n;
      n.text = (*it)[i].get<std::string>();
      t.networks.push_back(n);
    }
  }
  if (auto it = body.find("max_devices"); it != body.end()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() > 100000000) throw ApiError(400, "expected a whole number 0 to 100000000", "max_devices");
    t.max_devices = it->get<uint32_t>();
  }
  t.policy = str("policy");
  if (t.policy.empty()) {
    // A policy of its own (filtering nothing yet) that its tenant-admin may then edit.
    t.policy = t.id;
    config::PolicySettings p;
    p.name = t.id;
    content.policies.push_back(p);
  }
  if (find_tenant(*c.live.settings, t.id)) return error_response(409, "tenant '" + t.id + "' already exists", "id");
  auto w = config::write_tenant_file(host_.config_path, content, std::string());
  if (!w.ok()) {
    if (w.status == config::TenantFileStatus::conflict) return error_response(409, w.message, "id");
    return file_failure(w);
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
  if (c.who.is_operator()) only_keys(body, {"name", "contact", "networks", "max_devices"});
  else only_keys(body, {"name", "contact"});
  auto r = config::read_tenant_file(host_.config_path, id);
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + r.path +
                                   ", which the API does not rewrite; move it to tenants.d/" + id + ".yaml to manage it here");
  auto& t = r.content.tenant;
  const json before = tenant_to_json(t);
  for (const char* key : {"name", "contact"}) {
    auto it = body.find(key);
    if (it == body.end()) continue;
    if (!it->is_string()) throw ApiError(400, "expected a string", key);
    (key[0] == 'n' ? t.name : t.contact) = it->get<std::string>();
  }
  if (t.name.empty()) t.name = t.id;
  if (auto it = body.find("networks"); it != body.end()) {
    if (!it->is_array()) throw ApiError(400, "expected a list of networks", "networks");
    t.networks.clear();
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) throw ApiError(400, "expected a network such as 10.1.0.0/16", "networks[" + std::to_string(i) + "]");
      config::NetworkSettings n;
      n.text = (*it)[i].get<std::string>();
      t.networks.push_back(n);
    }
  }
  if (auto it = body.find("max_devices"); it != body.end()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() > 100000000) throw ApiError(400, "expected a whole number 0 to 100000000", "max_devices");
    t.max_devices = it->get<uint32_t>();
  }
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request));
  if (!w.ok()) return file_failure(w);
  json after = tenant_to_json(w.content.tenant);
  apply_change(c, "change tenant", id, before, after);
  Response out = json_response(200, after);
  out.set("etag", etag_header(w.etag));
  return out;
}

Response Api::delete_tenant(Context& c, const std::string& id) {
  if (!c.who.is_operator()) return error_response(403, "only operators remove tenants");
  json before = tenant_to_json(*find_tenant(*c.live.settings, id));
  auto r = config::remove_tenant_file(host_.config_path, id, if_match(c.request));
  if (!r.ok()) return file_failure(r);
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
  auto r = config::read_tenant_file(host_.config_path, id);
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

// The tenant's policy is changed in place only when it is the tenant's own: defined in
// tenants.d/<id>.yaml and used by no other tenant. Otherwise (a policy in the main file, or
// shared with other tenants) the change goes to a new policy named after the tenant, in the
// tenant's file, and the tenant switches to it: nobody else's filtering ever changes.
Response Api::put_tenant_policy(Context& c, const std::string& id) {
  json body = parse_object(c.request.body);
  auto r = config::read_tenant_file(host_.config_path, id);
  if (r.status == config::TenantFileStatus::not_found || r.status == config::TenantFileStatus::io_error) return file_failure(r);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + r.path +
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
  policy_from_json(body, *target);
  json after = policy_to_json(*target);
  auto old = c.live.settings->policies.find(current);
  json before = old == c.live.settings->policies.end() ? json(nullptr) : policy_to_json(old->second);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request));
  if (!w.ok()) return file_failure(w);
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
  auto r = config::read_tenant_file(host_.config_path, id);
  if (!r.etag.empty()) out.set("etag", etag_header(r.etag));
  return out;
}

Response Api::add_device(Context& c, const std::string& id) {
  json body = parse_object(c.request.body);
  only_keys(body, {"name"});
  auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get<std::string>().empty())
    throw ApiError(400, "a device needs a name (a string)", "name");
  auto r = config::read_tenant_file(host_.config_path, id);
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r);
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + r.path +
                                   ", which the API does not rewrite; move it to tenants.d/" + id + ".yaml to manage it here");
  auto& t = r.content.tenant;
  for (const auto& d : t.devices)
    if (d.name == name->get<std::string>()) return error_response(409, "device '" + d.name + "' already exists", "name");
  if (t.max_devices != 0 && t.devices.size() >= t.max_devices)
    return error_response(409, "tenant '" + id + "' already has " + std::to_string(t.devices.size()) + " of its " +
                                   std::to_string(t.max_devices) + " devices (max_devices); revoke one or ask the operator to raise the limit",
                          "name");
  config::DeviceSettings d;
  d.name = name->get<std::string>();
  do d.token = new_device_token();
  while (c.live.policies->find_device(d.token));
  t.devices.push_back(d);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request));
  if (!w.ok()) return file_failure(w);
  json after = device_json(d, *c.live.settings);
  apply_change(c, "add device", id, nullptr, {{"name", d.name}});
  Response out = json_response(201, after);
  out.set("etag", etag_header(w.etag));
  return out;
}

Response Api::revoke_device(Context& c, const std::string& id, const std::string& device) {
  auto r = config::read_tenant_file(host_.config_path, id);
  if (!r.ok() && r.status != config::TenantFileStatus::invalid) return file_failure(r);
  auto& list = r.content.tenant.devices;
  auto it = std::find_if(list.begin(), list.end(), [&](const config::DeviceSettings& d) { return d.name == device; });
  if (it == list.end()) return error_response(404, "no device '" + device + "' in tenant '" + id + "'");
  if (r.etag.empty())
    return error_response(409, "tenant '" + id + "' is defined in " + r.path + ", which the API does not rewrite");
  list.erase(it);
  auto w = config::write_tenant_file(host_.config_path, r.content, if_match(c.request));
  if (!w.ok()) return file_failure(w);
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

Response Api::categories(Context&) {
  json list = json::array();
  for (const auto& info : policy::builtin_categories()) {
    const char* group = info.group == policy::CategoryGroup::kSecurity ? "security"
                        : info.group == policy::CategoryGroup::kContent ? "content"
                                                                        : "allow";
    list.push_back({{"id", info.id}, {"slug", info.slug}, {"en", info.name_en}, {"ja", info.name_ja}, {"group", group}});
  }
  return json_response(200, {{"categories", list}});
}

Response Api::check(Context& c) {
  const std::string id = param(c.request, "tenant");
  const std::string raw = param(c.request, "name");
  if (id.empty()) throw ApiError(400, "which tenant? (check?tenant=ID&name=NAME)", "tenant");
  if (raw.empty()) throw ApiError(400, "which name? (check?tenant=ID&name=NAME)", "name");
  if (!c.who.may_see(id)) return error_response(404, "no tenant '" + id + "'");
  const auto& snap = *c.live.policies;
  auto t = std::find_if(snap.tenants.begin(), snap.tenants.end(), [&](const policy::Tenant& x) { return x.id == id; });
  if (t == snap.tenants.end()) return error_response(404, "no tenant '" + id + "'");
  std::string name, why;
  if (!policy::normalize_name(raw, name, why)) throw ApiError(400, "'" + raw + "' is not a domain name: " + why, "name");
  // Wire form, as the DNS path sees a lowercased question name.
  std::vector<uint8_t> wire;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    wire.push_back(static_cast<uint8_t>(dot - start));
    wire.insert(wire.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  wire.push_back(0);
  const policy::CompiledPolicy& p = snap.policies[t->policy];
  std::unique_ptr<policy::CategoryReader> reader;
  if (host_.store) {
    reader = std::make_unique<policy::CategoryReader>(*host_.store);
    if (!reader->begin_batch()) reader.reset();
  }
  const policy::Verdict v = policy::decide_query(p, wire, reader.get(), now_s());
  json j = {{"tenant", id}, {"name", name}, {"policy", p.name}};
  static constexpr const char* kRules[] = {"none", "category", "schedule", "deny_list", "allow_list", "cname"};
  j["verdict"] = v.blocked() ? "block" : "resolve";
  j["rule"] = kRules[static_cast<int>(v.rule)];
  json cats = json::array();
  for (const auto& info : policy::builtin_categories())
    if (v.categories.contains(info.id)) cats.push_back(info.slug);
  j["categories"] = cats;
  if (v.category != 0xFF)
    if (const auto* info = policy::category_by_id(v.category)) j["category"] = info->slug;
  if (v.list_entry) j["list_entry"] = *v.list_entry;
  if (v.schedule) j["schedule"] = v.schedule->description;
  if (v.blocked()) {
    char text[256];
    const size_t n = policy::describe_verdict(v, id, text, sizeof text);
    j["detail"] = std::string(text, n);
    static constexpr const char* kActions[] = {"blockpage", "nxdomain", "nodata", "refused"};
    j["action"] = kActions[static_cast<int>(p.action)];
    j["ede"] = v.security() ? 15 : 17;
  } else if (p.safe_search && v.rule != policy::RuleKind::allow_list) {
    auto target = policy::safe_search_target(wire);
    if (!target.empty()) {
      char text[256];
      const size_t n = dns::name_to_text(target.data(), target.size(), text, sizeof text - 1);
      j["verdict"] = "rewrite";
      j["rule"] = "safe_search";
      j["detail"] = std::string(text, n);
    }
  }
  if (reader) {
    j["store_generation"] = reader->generation();
    reader->end_batch();
  }
  return json_response(200, j);
}

Response Api::querylog(Context& c) {
  LogQuery q;
  q.tenant = param(c.request, "tenant");
  if (!c.who.is_operator()) {
    if (!q.tenant.empty() && q.tenant != c.who.tenant) return error_response(404, "no tenant '" + q.tenant + "'");
    q.tenant = c.who.tenant;  // never anyone else's lines
  }
  if (host_.querylog_directory.empty())
    return error_response(409, "query-log files are not written on this server (set querylog.directory)");
  for (const char* key : {"from", "to"}) {
    const std::string text = param(c.request, key);
    if (text.empty()) continue;
    auto us = parse_instant(text);
    if (!us) throw ApiError(400, "'" + text + "' is not a time (2026-11-25T09:30:00Z, 2026-11-25 or Unix seconds)", key);
    (key[0] == 'f' ? q.from_us : q.to_us) = *us;
  }
  q.client = param(c.request, "client");
  q.device = param(c.request, "device");
  q.name = param(c.request, "name");
  std::transform(q.name.begin(), q.name.end(), q.name.begin(), [](unsigned char ch) { return std::tolower(ch); });
  q.action = param(c.request, "action");
  q.cursor = param(c.request, "cursor");
  if (std::string limit = param(c.request, "limit"); !limit.empty()) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (ec != std::errc() || p != limit.data() + limit.size() || n == 0 || n > 1000)
      throw ApiError(400, "limit is 1 to 1000", "limit");
    q.limit = n;
  }
  LogPage page;
  try {
    page = search_querylog(host_.querylog_directory, q);
  } catch (const std::invalid_argument& e) {
    throw ApiError(400, e.what(), "cursor");
  }
  json j = {{"records", page.records}, {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}};
  return json_response(200, j);
}

Response Api::stats(Context& c) {
  std::string id = param(c.request, "tenant");
  if (!c.who.is_operator()) {
    if (!id.empty() && id != c.who.tenant) return error_response(404, "no tenant '" + id + "'");
    id = c.who.tenant;
  }
  auto one = [&](const config::TenantSettings& t) {
    querylog::TenantStats s;
    if (host_.querylog) {
      if (auto found = host_.querylog->stats_by_id(t.id)) s = *found;
    }
    s.tenant_id = t.id;
    s.max_devices = t.max_devices;
    json j = stats_to_json(s);
    j["configured_devices"] = t.devices.size();
    return j;
  };
  if (!id.empty()) {
    const auto* t = find_tenant(*c.live.settings, id);
    if (!t) return error_response(404, "no tenant '" + id + "'");
    return json_response(200, one(*t));
  }
  json list = json::array();
  for (const auto& t : c.live.settings->tenants) list.push_back(one(t));
  return json_response(200, {{"tenants", list}});
}

Response Api::store_status(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators see the category store");
  if (!host_.store) return json_response(200, {{"configured", false}});
  policy::CategoryStore& store = *host_.store;
  json j = {{"configured", true}, {"path", store.path()}, {"generation", store.current_generation()}};
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(store.env(), nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS)
    return error_response(500, store.path() + ": cannot read: " + mdb_strerror(rc));
  MDB_stat ds{}, us{};
  mdb_stat(txn, store.domains_dbi(), &ds);
  mdb_stat(txn, store.urls_dbi(), &us);
  j["domain_keys"] = ds.ms_entries;
  j["url_keys"] = us.ms_entries;
  json sources = json::array();
  if (!sources_dbi_open_) {
    MDB_dbi dbi;
    // Opened once and kept: LMDB handles live as long as the environment.
    if (mdb_dbi_open(txn, policy::schema::kDbSources, 0, &dbi) == MDB_SUCCESS) {
      sources_dbi_ = dbi;
      sources_dbi_open_ = true;
    }
  }
  if (sources_dbi_open_) {
    MDB_cursor* cur = nullptr;
    if (mdb_cursor_open(txn, sources_dbi_, &cur) == MDB_SUCCESS) {
      MDB_val k, v;
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        policy::SourceInfo s;
        if (!policy::decode_source({static_cast<const char*>(k.mv_data), k.mv_size},
                                   {static_cast<const char*>(v.mv_data), v.mv_size}, s))
          continue;
        std::string updated;
        querylog::append_time(updated, s.updated * 1000000);
        sources.push_back({{"name", s.name}, {"format", s.format}, {"origin", s.origin},
                           {"domain_entries", s.domain_entries}, {"url_entries", s.url_entries},
                           {"categories", policy::category_slugs(s.default_categories)}, {"updated", updated}});
      }
      mdb_cursor_close(cur);
    }
  }
  mdb_txn_abort(txn);
  j["sources"] = sources;
  return json_response(200, j);
}

Response Api::reload(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators reload the configuration");
  // The same check the reload does, so the caller gets the errors instead of a log line.
  config::Configuration candidate = config::load_configuration(host_.config_path);
  if (!candidate.ok()) {
    config::TenantFileResult r;
    r.status = config::TenantFileStatus::invalid;
    r.message = "the configuration on disk is invalid; the running one stays in use";
    r.errors = candidate.errors;
    return file_failure(r);
  }
  const uint64_t before = c.live.generation;
  const uint64_t after = host_.reload ? host_.reload() : before;
  if (after == before) return error_response(500, "the reload was refused; see the server log");
  audit_.record(c.who.name, c.source, "reload", "", before, after, now_s() * 1000000);
  return json_response(200, {{"generation", after}});
}

void Api::apply_change(Context& c, const std::string& what, const std::string& tenant, const json& before,
                       const json& after) {
  const uint64_t generation = host_.reload ? host_.reload() : 0;
  audit_.record(c.who.name, c.source, what, tenant, before, after, now_s() * 1000000);
  if (host_.reload && generation == c.live.generation)
    throw ApiError(500, "the change was written to tenants.d but the reload was refused; see the server log");
}

}  // namespace sekisho::admin
