// A real configuration on disk (main file + tenants.d), loaded by the real loader, behind an
// admin::Api: the handler tests call Api::handle() with requests and read real files back.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "admin/api/api.h"
#include "admin/api/token.h"
#include "policy/configuration.h"

namespace sekisho::test {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

struct ApiFixture {
  std::filesystem::path dir;
  std::string config;
  std::string operator_token = admin::new_token();
  std::string acme_token = admin::new_token();
  std::string beta_token = admin::new_token();
  policy::Configuration current;
  uint64_t generation = 1;
  int reloads = 0;
  int64_t now = 1764000000;  // 2025-11-24T16:00:00Z
  std::unique_ptr<admin::Api> api;

  explicit ApiFixture(const std::string& extra_main = "",
                      uint64_t querylog_max_lines_scanned = admin::LogQuery::kDefaultMaxLinesScanned) {
    char tmpl[] = "/tmp/sekisho-api-XXXXXX";
    dir = ::mkdtemp(tmpl);
    config = (dir / "sekisho.yaml").string();
    write_text(config, "server:\n  listen:\n    dns: [\"127.0.0.1:5353\"]\n  public_name: dns.test\nupstreams: [\"127.0.0.1:5399\"]\n"
                       "tenants:\n  - id: legacy\n    networks: [\"10.9.0.0/16\"]\n    policy: shared\n"
                       "policies:\n  shared:\n    deny: [shared-deny.example]\n"
                       "querylog:\n  directory: \"" + (dir / "querylog").string() + "\"\n"
                       "admin:\n  listen: [\"127.0.0.1:8081\"]\n  audit_log: \"" + (dir / "audit.jsonl").string() + "\"\n"
                       "  tokens:\n"
                       "    - {name: root, role: operator, sha256: " + admin::sha256_hex(operator_token) + "}\n"
                       "    - {name: acme-admin, role: tenant-admin, tenant: acme, sha256: " + admin::sha256_hex(acme_token) + "}\n"
                       "    - {name: beta-admin, role: tenant-admin, tenant: beta, sha256: " + admin::sha256_hex(beta_token) + "}\n" +
                       extra_main);
    write_text(dir / "tenants.d" / "acme.yaml",
               "tenants:\n  - id: acme\n    networks: [\"10.1.0.0/16\"]\n    policy: acme\n    max_devices: 2\n"
               "policies:\n  acme:\n    deny: [acme-deny.example]\n");
    write_text(dir / "tenants.d" / "beta.yaml",
               "tenants:\n  - id: beta\n    networks: [\"10.2.0.0/16\"]\n    policy: shared\n");
    current = policy::load_configuration(config);
    std::string errors;
    for (const auto& e : current.errors) errors += e.to_string() + "\n";
    if (!current.ok()) throw std::runtime_error("fixture config invalid:\n" + errors);
    admin::ApiHost host;
    host.config_path = config;
    host.live = [this] {
      admin::LiveConfig l;
      l.settings = std::make_shared<const config::Settings>(current.settings);
      l.policies = current.policies;
      l.generation = generation;
      return l;
    };
    host.reload = [this] {
      ++reloads;
      auto loaded = policy::load_configuration(config);
      if (loaded.ok()) {
        current = std::move(loaded);
        ++generation;
      }
      return generation;
    };
    host.querylog_directory = (dir / "querylog").string();
    host.querylog_max_lines_scanned = querylog_max_lines_scanned;
    host.now_s = [this] { return now; };
    api = std::make_unique<admin::Api>(std::move(host));
  }
  ~ApiFixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  net::http::Response call(const std::string& method, const std::string& target, const std::string& token,
                           const std::string& body = "", const std::string& peer = "192.0.2.7",
                           const std::string& if_match = "") {
    net::http::Request r;
    r.method = method;
    const size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    if (!token.empty()) r.headers.push_back({"authorization", "Bearer " + token});
    if (!if_match.empty()) r.headers.push_back({"if-match", if_match});
    r.body = body;
    std::string why;
    r.peer = *net::parse_socket_address(peer + ":40000", 0, why);
    return api->handle(r);
  }

  static nlohmann::json json_of(const net::http::Response& r) { return nlohmann::json::parse(r.body); }
  static std::string header(const net::http::Response& r, const std::string& name) {
    for (const auto& h : r.headers)
      if (h.name == name) return h.value;
    return {};
  }
};

}  // namespace sekisho::test
