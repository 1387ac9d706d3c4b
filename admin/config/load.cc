// Walks the YAML tree with a small typed reader that records the key path and the node's mark,
// so each message points at the line the user has to fix. Unknown keys are errors: a typo must
// never silently fall back to a default.
#include "admin/config/load.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

namespace sekisho::config {
namespace {

constexpr uint16_t kDnsPort = 53;

class Reader {
 public:
  Reader(std::string file, std::vector<ConfigError>& errors) : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Node& node, const std::string& path, const std::string& message) {
    ConfigError e;
    e.file = file_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      e.line = node.Mark().line + 1;
      e.column = node.Mark().column + 1;
    }
    e.path = path;
    e.message = message;
    errors_.push_back(std::move(e));
  }

  // Reports keys of `map` not in `known`.
  void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> known) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      bool found = false;
      for (auto k : known) found = found || k == key;
      if (!found) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(kv.first, join(path, key), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  bool expect_map(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    error(node, path, "expected a mapping");
    return false;
  }

  template <typename Int>
  void read_uint(const YAML::Node& map, std::string_view key, const std::string& path, Int& out, uint64_t min,
                 uint64_t max) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return;
    std::string p = join(path, key);
    if (!node.IsScalar()) {
      error(node, p, "expected a number");
      return;
    }
    const std::string& s = node.Scalar();
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      error(node, p, "'" + s + "' is not a whole number");
      return;
    }
    if (v < min || v > max) {
      error(node, p, std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
      return;
    }
    out = static_cast<Int>(v);
  }

  bool read_string(const YAML::Node& map, std::string_view key, const std::string& path, std::string& out) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return false;
    if (!node.IsScalar()) {
      error(node, join(path, key), "expected a string");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

 private:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

std::optional<net::SocketAddress> read_address(Reader& r, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) {
    r.error(node, path, "expected an address such as 127.0.0.1:53 or \"[::1]:53\"");
    return std::nullopt;
  }
  std::string why;
  auto addr = net::parse_socket_address(node.Scalar(), kDnsPort, why);
  if (!addr) r.error(node, path, "'" + node.Scalar() + "': " + why);
  return addr;
}

void read_server(Reader& r, const YAML::Node& node, ServerSettings& out) {
  const std::string path = "server";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"threads", "listen", "tcp", "drain_timeout_ms"});
  r.read_uint(node, "threads", path, out.threads, 0, 256);
  r.read_uint(node, "drain_timeout_ms", path, out.drain_timeout_ms, 0, 600000);
  if (YAML::Node listen = node["listen"]; listen.IsDefined()) {
    const std::string lpath = path + ".listen";
    if (r.expect_map(listen, lpath)) {
      r.check_keys(listen, lpath, {"dns"});
      if (YAML::Node dns = listen["dns"]; dns.IsDefined()) {
        if (!dns.IsSequence()) {
          r.error(dns, lpath + ".dns", "expected a list of addresses");
        } else {
          out.dns_listen.clear();
          for (size_t i = 0; i < dns.size(); ++i)
            if (auto a = read_address(r, dns[i], Reader::index(lpath + ".dns", i))) out.dns_listen.push_back(*a);
        }
      }
    }
  }
  if (YAML::Node tcp = node["tcp"]; tcp.IsDefined()) {
    const std::string tpath = path + ".tcp";
    if (r.expect_map(tcp, tpath)) {
      r.check_keys(tcp, tpath, {"idle_timeout_ms", "max_connections", "max_pipelined"});
      r.read_uint(tcp, "idle_timeout_ms", tpath, out.tcp.idle_timeout_ms, 100, 3600000);
      r.read_uint(tcp, "max_connections", tpath, out.tcp.max_connections, 1, 1000000);
      r.read_uint(tcp, "max_pipelined", tpath, out.tcp.max_pipelined, 1, 65535);
    }
  }
}

void read_upstreams(Reader& r, const YAML::Node& node, std::vector<UpstreamSettings>& out) {
  const std::string path = "upstreams";
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of upstreams");
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string ipath = Reader::index(path, i);
    UpstreamSettings up;
    if (item.IsScalar()) {
      auto a = read_address(r, item, ipath);
      if (!a) continue;
      up.address = *a;
    } else if (item.IsMap()) {
      r.check_keys(item, ipath, {"address", "transport"});
      YAML::Node address = item["address"];
      if (!address.IsDefined()) {
        r.error(item, ipath, "missing 'address'");
        continue;
      }
      auto a = read_address(r, address, ipath + ".address");
      if (!a) continue;
      up.address = *a;
      std::string transport;
      if (r.read_string(item, "transport", ipath, transport)) {
        if (transport == "udp") {
          up.transport = UpstreamTransport::udp;
        } else if (transport == "tcp") {
          up.transport = UpstreamTransport::tcp;
        } else {
          r.error(item["transport"], ipath + ".transport", "'" + transport + "' is not a transport (udp | tcp)");
          continue;
        }
      }
    } else {
      r.error(item, ipath, "expected an address or a mapping with 'address' and 'transport'");
      continue;
    }
    if (up.address.port() == 0) {
      r.error(item, ipath, "upstream port must not be 0");
      continue;
    }
    out.push_back(up);
  }
}

void read_cache(Reader& r, const YAML::Node& node, CacheSettings& out) {
  const std::string path = "cache";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"max_entries", "serve_stale", "min_ttl", "max_ttl", "negative_max_ttl"});
  r.read_uint(node, "max_entries", path, out.max_entries, 1, 1ull << 32);
  r.read_uint(node, "serve_stale", path, out.serve_stale, 0, 30u * 86400);
  r.read_uint(node, "min_ttl", path, out.min_ttl, 0, 86400);
  r.read_uint(node, "max_ttl", path, out.max_ttl, 1, 7u * 86400);
  r.read_uint(node, "negative_max_ttl", path, out.negative_max_ttl, 0, 86400);
  if (out.min_ttl > out.max_ttl) r.error(node, path + ".min_ttl", "min_ttl is larger than max_ttl");
}

void read_forwarding(Reader& r, const YAML::Node& node, ForwardingSettings& out) {
  const std::string path = "forwarding";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"timeout_ms", "attempts"});
  r.read_uint(node, "timeout_ms", path, out.timeout_ms, 10, 60000);
  r.read_uint(node, "attempts", path, out.attempts, 1, 16);
}

void read_log(Reader& r, const YAML::Node& node, Settings& out) {
  const std::string path = "log";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"level"});
  std::string level;
  if (r.read_string(node, "level", path, level) && !log::parse_level(level, out.log_level))
    r.error(node["level"], path + ".level", "'" + level + "' is not a level (debug | info | warning | error)");
}

// Nameservers from resolv.conf, so the embedded defaults forward wherever this host already does.
std::vector<UpstreamSettings> resolv_conf_upstreams() {
  std::vector<UpstreamSettings> out;
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, value;
    if (!(words >> keyword >> value) || keyword != "nameserver") continue;
    std::string why;
    if (value.find(':') != std::string::npos) value = "[" + value + "]";
    if (auto a = net::parse_socket_address(value, kDnsPort, why)) out.push_back({*a, UpstreamTransport::udp});
  }
  return out;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

LoadResult load_config_text(std::string_view yaml, const std::string& source_name) {
  LoadResult result;
  Settings& s = result.settings;
  s.source = source_name;
  s.server.dns_listen.clear();
  Reader r(source_name, result.errors);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    ConfigError err;
    err.file = source_name;
    err.line = e.mark.line + 1;
    err.column = e.mark.column + 1;
    err.message = "YAML syntax error: " + e.msg;
    result.errors.push_back(std::move(err));
    return result;
  }
  if (root.IsNull() || !root.IsDefined()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    r.error(root, "", "the configuration must be a mapping at the top level");
    return result;
  }
  r.check_keys(root, "", {"server", "upstreams", "forwarding", "cache", "log", "category_db"});
  if (YAML::Node n = root["server"]; n.IsDefined()) read_server(r, n, s.server);
  if (YAML::Node n = root["upstreams"]; n.IsDefined()) read_upstreams(r, n, s.upstreams);
  else s.upstreams = resolv_conf_upstreams();
  if (YAML::Node n = root["forwarding"]; n.IsDefined()) read_forwarding(r, n, s.forwarding);
  if (YAML::Node n = root["cache"]; n.IsDefined()) read_cache(r, n, s.cache);
  if (YAML::Node n = root["log"]; n.IsDefined()) read_log(r, n, s);
  r.read_string(root, "category_db", "", s.category_db);

  if (s.server.dns_listen.empty())
    r.error(root["server"].IsDefined() ? root["server"] : root, "server.listen.dns", "at least one listen address is required");
  if (s.upstreams.empty())
    r.error(root["upstreams"].IsDefined() ? root["upstreams"] : root, "upstreams",
            "no upstream resolvers (none configured and none in /etc/resolv.conf)");
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "", "cannot open the file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return load_config_text(buffer.str(), path);
}

std::string_view embedded_default_config() {
  return R"(# sekishod's embedded defaults: loopback only, unprivileged port, upstreams from /etc/resolv.conf.
server:
  threads: 0
  listen:
    dns: ["127.0.0.1:5353", "[::1]:5353"]
cache:
  max_entries: 1000000
  serve_stale: 86400
)";
}

}  // namespace sekisho::config
