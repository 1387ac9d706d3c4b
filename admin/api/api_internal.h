// Shared by the Api's route files (api.cc, tenant_routes.cc, report_routes.cc): the request
// context and the small HTTP/JSON helpers every handler uses. Not part of the API's interface.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/api/api.h"
#include "admin/tenant_files/tenant_file.h"

namespace sekisho::admin {

struct Api::Context {
  const net::http::Request& request;
  Principal who;
  LiveConfig live;
  std::vector<std::string> segments;  // after /api/v1/, percent-decoded
  std::string source;                 // client address, for the audit log and rate limits
};

net::http::Response json_response(int status, const nlohmann::json& body);
net::http::Response error_response(int status, const std::string& message, const std::string& field = {});
// %XX decoding; '+' is a space in query strings only.
std::string percent_decode(std::string_view in, bool query);
// The client's address without the port.
std::string host_of(const net::SocketAddress& a);
// A query parameter, percent-decoded.
std::string param(const net::http::Request& r, std::string_view key);
std::string etag_header(const std::string& etag);
// The digest from If-Match (nullopt = absent or "*").
config::ExpectedEtag if_match(const net::http::Request& r);
// `text` for a response body: the configuration's files named relative to its directory
// (`tenants.d/acme.yaml:3:5`, `sekisho.yaml:12:1`) and any other absolute path cut to its last
// component. Tenant admins see these bodies, and where the server keeps its files is none of
// their business (nor of anyone who steals a tenant-admin token).
std::string without_server_paths(std::string_view text, const std::string& config_path);
// A tenant_file failure as an HTTP answer (404, 409, 412, 422 with every error, 500), its texts
// passed through without_server_paths.
net::http::Response file_failure(const config::TenantFileResult& r, const std::string& config_path);
// "2026-11-25", "2026-11-25T09:30:00Z", "…:00.5Z" or Unix seconds → µs since the epoch.
std::optional<int64_t> parse_instant(const std::string& text);
const config::TenantSettings* find_tenant(const config::Settings& s, const std::string& id);
nlohmann::json device_json(const config::DeviceSettings& d, const config::Settings& s);
net::http::Response not_allowed(std::initializer_list<const char*> methods);

}  // namespace sekisho::admin
