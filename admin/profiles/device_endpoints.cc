#include "admin/profiles/device_endpoints.h"

namespace sekisho::profiles {

std::string doh_url(const config::ServerSettings& server, const std::string& token) {
  if (server.public_name.empty()) return {};
  std::string url = "https://" + server.public_name;
  // Behind a port-forwarding load balancer the public port may differ; the listen port is the
  // best we know, and 443 is what production deployments use.
  if (!server.doh_listen.empty() && server.doh_listen.front().port() != 443)
    url += ":" + std::to_string(server.doh_listen.front().port());
  return url + "/dns-query/" + token;
}

std::string dot_hostname(const config::ServerSettings& server, const std::string& token) {
  if (server.public_name.empty()) return {};
  return token + "." + server.public_name;
}

}  // namespace sekisho::profiles
