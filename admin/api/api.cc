#include "admin/api/api.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "admin/api/api_internal.h"
#include "admin/api/json_body.h"
#include "base/text.h"
#include "policy/configuration.h"
#include "admin/profiles/device_endpoints.h"
#include "policy/querylog/format.h"

namespace sekisho::admin {

using nlohmann::json;
using net::http::Request;
using net::http::Response;

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.set("content-type", "application/json; charset=utf-8");
  r.set("cache-control", "no-store");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response error_response(int status, const std::string& message, const std::string& field) {
  return json_response(status, {{"error", message}, {"field", field}});
}

// %XX decoding; '+' is a space in query strings only.
std::string percent_decode(std::string_view in, bool query) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() + 0 && base::hex_value(in[i + 1]) >= 0 && base::hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(base::hex_value(in[i + 1]) * 16 + base::hex_value(in[i + 2]));
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

std::string without_server_paths(std::string_view text, const std::string& config_path) {
  const size_t slash = config_path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : config_path.substr(0, slash + 1);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    // A path starts a word (the messages put them after a space, a quote or a parenthesis).
    const bool starts_word = i == 0 || std::string_view(" \t\n('\"=,").find(text[i - 1]) != std::string_view::npos;
    if (text[i] != '/' || !starts_word) {
      out += text[i++];
      continue;
    }
    // Up to the ":line:col" that may follow, or the end of the word.
    size_t end = i;
    while (end < text.size() && std::string_view(" \t\n)'\",:;").find(text[end]) == std::string_view::npos) ++end;
    const std::string_view path = text.substr(i, end - i);
    if (!dir.empty() && path.size() > dir.size() && path.substr(0, dir.size()) == dir) out += path.substr(dir.size());
    else if (path.size() > 1) out += path.substr(path.rfind('/') + 1);
    else out += path;  // a lone "/"
    i = end;
  }
  return out;
}

// A tenant_file failure as an HTTP answer.
Response file_failure(const config::TenantFileResult& r, const std::string& config_path) {
  using S = config::TenantFileStatus;
  const auto shown = [&](std::string_view text) { return without_server_paths(text, config_path); };
  switch (r.status) {
    case S::not_found: return error_response(404, shown(r.message));
    case S::not_managed: return error_response(409, shown(r.message));
    case S::conflict: return error_response(412, shown(r.message));
    case S::unavailable: return error_response(503, shown(r.message));
    case S::invalid: {
      json errors = json::array();
      for (const auto& e : r.errors)
        errors.push_back({{"field", field_of(e.path)}, {"message", shown(e.message)}, {"where", shown(e.to_string())}});
      // The first problem in words, so a client that shows only "error" still shows the cause.
      std::string message = r.message;
      if (!r.errors.empty()) {
        message = r.errors[0].message;
        if (r.errors.size() > 1) message += " (and " + std::to_string(r.errors.size() - 1) + " more)";
      }
      json body = {{"error", shown(message)}, {"field", r.errors.empty() ? "" : field_of(r.errors[0].path)}, {"errors", errors}};
      return json_response(422, body);
    }
    default: return error_response(500, shown(r.message));
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

static std::string method_list(std::initializer_list<const char*> methods) {
  std::string out;
  for (const char* m : methods) out += (out.empty() ? "" : ", ") + std::string(m);
  return out;
}

Response not_allowed(std::initializer_list<const char*> methods) {
  Response r = error_response(405, "method not allowed here (allowed: " + method_list(methods) + ")");
  r.set("allow", method_list(methods));
  return r;
}

Api::Api(ApiHost host, Authenticator::Limits limits)
    : host_(std::move(host)), auth_(limits), daily_(host_.stats_directory) {}
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
    if (top == "templates") return get ? templates(c) : not_allowed({"GET"});
    if (top == "check") return get ? check(c) : not_allowed({"GET"});
    if (top == "querylog") return get ? querylog(c) : not_allowed({"GET"});
    if (top == "stats") return get ? stats(c) : not_allowed({"GET"});
    if (top == "store") return get ? store_status(c) : not_allowed({"GET"});
    if (top == "intercept") return get ? intercept_traffic(c) : not_allowed({"GET"});
    if (top == "feeds") return get ? feeds(c) : not_allowed({"GET"});
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

Response Api::reload(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators reload the configuration");
  // The same check the reload does, so the caller gets the errors instead of a log line.
  policy::Configuration candidate = policy::load_configuration(
      host_.config_path, host_.documents ? host_.documents->documents().files : config::TenantFileOverrides{});
  if (!candidate.ok()) {
    config::TenantFileResult r;
    r.status = config::TenantFileStatus::invalid;
    r.message = "the configuration on disk is invalid; the running one stays in use";
    r.errors = candidate.errors;
    audit_.record(c.who.name, c.source, "reload", "", c.live.generation, nullptr,
                  "refused: the configuration has " + std::to_string(candidate.errors.size()) + " error(s)",
                  now_s() * 1000000);
    return file_failure(r, host_.config_path);
  }
  const uint64_t before = c.live.generation;
  const uint64_t after = host_.reload ? host_.reload() : before;
  if (after == before) {
    audit_.record(c.who.name, c.source, "reload", "", before, nullptr, "refused: see the server log", now_s() * 1000000);
    return error_response(500, "the reload was refused; see the server log");
  }
  audit_.record(c.who.name, c.source, "reload", "", before, after, "ok", now_s() * 1000000);
  return json_response(200, {{"generation", after}});
}

void Api::apply_change(Context& c, const std::string& what, const std::string& tenant, const json& before,
                       const json& after) {
  const uint64_t generation = host_.reload ? host_.reload() : 0;
  const bool refused = host_.reload && generation == c.live.generation;
  audit_.record(c.who.name, c.source, what, tenant, before, after,
                refused ? "written to tenants.d; the reload was refused" : "ok", now_s() * 1000000);
  if (refused)
    throw ApiError(500, "the change was written to tenants.d but the reload was refused; see the server log");
}

}  // namespace sekisho::admin
