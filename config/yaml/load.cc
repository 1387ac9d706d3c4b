// The main file: server, upstreams, forwarding, cache, log, blockpage, query log, intercept and
// admin sections, with tenants and policies (config/yaml/tenants.cc) here and in tenants.d/,
// and the categories file (config/yaml/category_file.cc) it names.
#include "config/yaml/load.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "base/base64url.h"
#include "base/text.h"
#include "config/schema.h"
#include "config/yaml/category_file.h"
#include "config/yaml/reader.h"
#include "config/yaml/tenants.h"

namespace sekisho::config {
namespace {

constexpr uint16_t kDnsPort = 53;

std::optional<net::SocketAddress> read_address(Reader& r, const YAML::Node& node, const std::string& path,
                                               uint16_t default_port = kDnsPort) {
  if (!node.IsScalar()) {
    r.error(node, path, "expected an address such as 127.0.0.1:53 or \"[::1]:53\"");
    return std::nullopt;
  }
  std::string why;
  auto addr = net::parse_socket_address(node.Scalar(), default_port, why);
  if (!addr) r.error(node, path, "'" + node.Scalar() + "': " + why);
  return addr;
}

void read_address_list(Reader& r, const YAML::Node& map, std::string_view key, const std::string& path,
                       uint16_t default_port, std::vector<net::SocketAddress>& out) {
  std::vector<net::SocketAddress> given;
  const bool listed = r.read_list(map, key, path, "addresses", [&](const YAML::Node& item, const std::string& p) {
    if (auto a = read_address(r, item, p, default_port)) given.push_back(*a);
  });
  if (listed) out = std::move(given);  // a list given replaces the defaults
}

bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

// `tls: {cert, key}`: PEM file names, both or neither.
void read_tls(Reader& r, const YAML::Node& map, const std::string& path, TlsSettings& out) {
  r.read_map(map, "tls", path, {"cert", "key"}, [&](const YAML::Node& tls, const std::string& tpath) {
    r.read_string(tls, "cert", tpath, out.cert);
    r.read_string(tls, "key", tpath, out.key);
    if (out.cert.empty() != out.key.empty()) r.error(tls, tpath, "give both cert and key (PEM files)");
  });
}

void read_server(Reader& r, const YAML::Node& node, ServerSettings& out) {
  const std::string path = "server";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"threads", "listen", "tcp", "drain_timeout_ms", "tls", "public_name"});
  r.read_uint(node, "threads", path, out.threads, 0, 256);
  r.read_uint(node, "drain_timeout_ms", path, out.drain_timeout_ms, 0, 600000);
  r.read_map(node, "listen", path, {"dns", "doh", "dot"}, [&](const YAML::Node& listen, const std::string& lpath) {
    read_address_list(r, listen, "dns", lpath, kDnsPort, out.dns_listen);
    read_address_list(r, listen, "doh", lpath, 443, out.doh_listen);
    read_address_list(r, listen, "dot", lpath, 853, out.dot_listen);
  });
  read_tls(r, node, path, out.tls);
  if (r.read_string(node, "public_name", path, out.public_name)) {
    std::transform(out.public_name.begin(), out.public_name.end(), out.public_name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (!out.public_name.empty() && out.public_name.back() == '.') out.public_name.pop_back();
    if (!valid_hostname(out.public_name))
      r.error(node["public_name"], path + ".public_name", "'" + out.public_name + "' is not a host name");
  }
  if ((!out.doh_listen.empty() || !out.dot_listen.empty()) && out.tls.cert.empty())
    r.error(node, path + ".tls", "DoH and DoT listeners need server.tls.cert and server.tls.key");
  if (YAML::Node tcp = node["tcp"]; tcp.IsDefined()) read_described(r, tcp, path + ".tcp", out.tcp);
}

// `url: https://host[:port]/path` of a DoH upstream (RFC 8484 §3) into its :authority and
// :path, and the address to connect to when none is given (the host must then be an IP address:
// names are not resolved, as there is nothing to resolve them with before the upstreams are up).
void read_doh_url(Reader& r, const YAML::Node& item, const std::string& ipath, UpstreamSettings& up,
                  bool address_given) {
  const YAML::Node node = item["url"];
  if (!r.read_string(item, "url", ipath, up.url)) {
    r.error(item, ipath, "transport: https needs url (https://host[:port]/path)");
    return;
  }
  const std::string upath = ipath + ".url";
  std::string_view rest = up.url;
  if (!rest.starts_with("https://")) return r.error(node, upath, "'" + up.url + "' does not start with https://");
  rest.remove_prefix(8);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash == std::string_view::npos || slash + 1 == rest.size())
    return r.error(node, upath, "'" + up.url + "' has no path (the DoH endpoint's, e.g. https://dns.example/dns-query)");
  up.http_path = std::string(rest.substr(slash));
  for (unsigned char c : up.http_path)
    if (c <= ' ' || c == '#' || c >= 0x7f) return r.error(node, upath, "the path of '" + up.url + "' is not a URL path");
  std::string_view host = authority, port_text;
  if (authority.find('@') != std::string_view::npos)
    return r.error(node, upath, "'" + up.url + "': user information is not allowed");
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return r.error(node, upath, "'" + up.url + "': unclosed [ in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return r.error(node, upath, "'" + up.url + "': bad host");
    if (!after.empty()) port_text = after.substr(1);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  uint32_t port = 443;
  if (!port_text.empty()) {
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return r.error(node, upath, "'" + up.url + "': bad port");
  }
  const std::string host_lower = base::ascii_lower(host);
  in6_addr scratch;
  const bool literal = inet_pton(AF_INET, host_lower.c_str(), &scratch) == 1 || inet_pton(AF_INET6, host_lower.c_str(), &scratch) == 1;
  if (!literal && !valid_hostname(host_lower)) return r.error(node, upath, "'" + up.url + "': bad host");
  up.http_authority = base::ascii_lower(authority);
  if (up.tls_name.empty() && !literal) up.tls_name = host_lower;
  if (address_given) return;
  if (!literal)
    return r.error(item, ipath, "give 'address' (the upstream's IP address): the URL's host is a name");
  const std::string text = (host_lower.find(':') != std::string::npos ? "[" + host_lower + "]" : host_lower) + ":" +
                           std::to_string(port);
  std::string why;
  if (auto a = net::parse_socket_address(text, static_cast<uint16_t>(port), why)) up.address = *a;
  else r.error(node, upath, "'" + up.url + "': " + why);
}

// The options of an encrypted upstream (transport: tls or https): the name to verify, where
// trust comes from, and an optional pin. Checked here so that a typo fails the load, not the
// first query.
void read_upstream_tls(Reader& r, const YAML::Node& item, const std::string& ipath, UpstreamSettings& up,
                       bool address_given) {
  const bool tls = up.transport == UpstreamTransport::tls || up.transport == UpstreamTransport::https;
  for (const char* key : {"tls_name", "ca_file", "spki_pin"}) {
    if (!tls && item[key].IsDefined()) r.error(item[key], ipath + "." + key, "only for transport: tls or https");
  }
  if (up.transport != UpstreamTransport::https && item["url"].IsDefined())
    r.error(item["url"], ipath + ".url", "only for transport: https");
  if (!tls) return;
  if (r.read_string(item, "tls_name", ipath, up.tls_name)) {
    up.tls_name = base::ascii_lower(up.tls_name);
    if (!up.tls_name.empty() && up.tls_name.back() == '.') up.tls_name.pop_back();
    if (!valid_hostname(up.tls_name))
      r.error(item["tls_name"], ipath + ".tls_name", "'" + up.tls_name + "' is not a host name");
  }
  if (up.transport == UpstreamTransport::https) read_doh_url(r, item, ipath, up, address_given);
  if (r.read_string(item, "ca_file", ipath, up.ca_file)) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(up.ca_file, ec))
      r.error(item["ca_file"], ipath + ".ca_file", "'" + up.ca_file + "' is not a readable file");
  }
  std::string pin;
  if (r.read_string(item, "spki_pin", ipath, pin)) {
    std::string digest;
    if (!base::base64_decode(pin, digest) || digest.size() != 32)
      r.error(item["spki_pin"], ipath + ".spki_pin",
              "expected the base64 SHA-256 of the certificate's SubjectPublicKeyInfo (44 characters, RFC 7469)");
    else
      up.spki_sha256 = digest;
  }
  // Without a pin the certificate must name the server: a name is required (RFC 8310 §6:
  // strict privacy needs an authentication domain name).
  if (up.tls_name.empty() && pin.empty() && (up.transport == UpstreamTransport::tls || !up.url.empty()))
    r.error(item, ipath, "transport: " + std::string(name_of(up.transport)) +
                             " needs tls_name (the name the server's certificate carries) or spki_pin");
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
      r.check_keys(item, ipath, {"address", "transport", "tls_name", "ca_file", "spki_pin", "url"});
      std::string transport;
      if (r.read_string(item, "transport", ipath, transport)) {
        if (auto t = parse_enum<UpstreamTransport>(transport)) {
          up.transport = *t;
        } else {
          r.error(item["transport"], ipath + ".transport", not_an_enum_value<UpstreamTransport>(transport));
          continue;
        }
      }
      const size_t errors_before = r.error_count();
      YAML::Node address = item["address"];
      if (address.IsDefined()) {
        // DNS over TLS has its own port (RFC 7858 §3.1); DoH's is the URL's.
        const uint16_t default_port = up.transport == UpstreamTransport::tls ? 853 : up.transport == UpstreamTransport::https ? 443 : kDnsPort;
        auto a = read_address(r, address, ipath + ".address", default_port);
        if (!a) continue;
        up.address = *a;
      } else if (up.transport != UpstreamTransport::https) {
        r.error(item, ipath, "missing 'address'");
        continue;
      }
      read_upstream_tls(r, item, ipath, up, address.IsDefined());
      if (r.error_count() != errors_before) continue;
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
  r.check_keys(node, path, {"max_entries", "serve_stale", "min_ttl", "max_ttl", "negative_max_ttl", "category_memo"});
  r.read_uint(node, "max_entries", path, out.max_entries, 1, 1ull << 32);
  r.read_uint(node, "serve_stale", path, out.serve_stale, 0, 30u * 86400);
  r.read_uint(node, "min_ttl", path, out.min_ttl, 0, 86400);
  r.read_uint(node, "max_ttl", path, out.max_ttl, 1, 7u * 86400);
  r.read_uint(node, "negative_max_ttl", path, out.negative_max_ttl, 0, 86400);
  r.read_uint(node, "category_memo", path, out.category_memo, 0, 1u << 24);
  if (out.min_ttl > out.max_ttl) r.error(node, path + ".min_ttl", "min_ttl is larger than max_ttl");
}

void read_forwarding(Reader& r, const YAML::Node& node, ForwardingSettings& out) {
  read_described(r, node, "forwarding", out);
}

void read_log(Reader& r, const YAML::Node& node, Settings& out) {
  const std::string path = "log";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"level"});
  std::string level;
  if (r.read_string(node, "level", path, level) && !log::parse_level(level, out.log_level))
    r.error(node["level"], path + ".level", "'" + level + "' is not a level (debug | info | warning | error)");
}


void read_blockpage(Reader& r, const YAML::Node& node, BlockpageSettings& out) {
  const std::string path = "blockpage";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"ipv4", "ipv6", "ttl"});
  std::string text;
  if (r.read_string(node, "ipv4", path, text)) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) == 1) out.ipv4 = a;
    else r.error(node["ipv4"], path + ".ipv4", "'" + text + "' is not an IPv4 address");
  }
  if (r.read_string(node, "ipv6", path, text)) {
    in6_addr a{};
    if (inet_pton(AF_INET6, text.c_str(), &a) == 1) out.ipv6 = a;
    else r.error(node["ipv6"], path + ".ipv6", "'" + text + "' is not an IPv6 address");
  }
  r.read_uint(node, "ttl", path, out.ttl, 0, 86400);
}


void read_querylog(Reader& r, const YAML::Node& node, QueryLogSettings& out) {
  const std::string path = "querylog";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"directory", "enabled"});
  r.read_string(node, "directory", path, out.directory);
  r.read_bool(node, "enabled", path, out.enabled);
}

// admin: the admin service. Tenant names are checked in check_admin_tenants() once tenants.d
// has been read too.
void read_admin(Reader& r, const YAML::Node& node, AdminSettings& out) {
  const std::string path = "admin";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"listen", "tls", "tokens", "audit_log", "metrics_listen"});
  read_address_list(r, node, "listen", path, 8081, out.listen);
  read_address_list(r, node, "metrics_listen", path, 9153, out.metrics_listen);
  r.read_string(node, "audit_log", path, out.audit_log);
  read_tls(r, node, path, out.tls);
  YAML::Node tokens = node["tokens"];
  if (!tokens.IsDefined() || tokens.IsNull()) return;
  static constexpr std::string_view kTokenKeys[] = {"name", "role", "tenant", "sha256"};
  r.read_map_list(tokens, path + ".tokens", "tokens", kTokenKeys,
                  [&](const YAML::Node& item, const std::string& ipath) {
    AdminTokenSettings t;
    t.mark = r.mark(item);
    if (!r.read_string(item, "name", ipath, t.name) || t.name.empty()) r.error(item, ipath + ".name", "every token needs a name");
    for (const auto& other : out.tokens)
      if (!t.name.empty() && other.name == t.name) r.error(item["name"], ipath + ".name", "token name '" + t.name + "' is used twice");
    std::string role;
    if (!r.read_string(item, "role", ipath, role)) {
      r.error(item, ipath + ".role", "every token needs a role (" + enum_choices<AdminRole>() + ")");
    } else if (auto parsed = parse_enum<AdminRole>(role)) {
      t.role = *parsed;
    } else {
      r.error(item["role"], ipath + ".role", not_an_enum_value<AdminRole>(role));
    }
    const bool has_tenant = r.read_string(item, "tenant", ipath, t.tenant);
    if (t.role == AdminRole::tenant_admin && t.tenant.empty())
      r.error(item, ipath + ".tenant", "a tenant-admin token needs the tenant it manages");
    if (t.role == AdminRole::operator_role && has_tenant)
      r.error(item["tenant"], ipath + ".tenant", "an operator token covers every tenant; remove 'tenant' or use role tenant-admin");
    if (!r.read_string(item, "sha256", ipath, t.sha256)) {
      r.error(item, ipath + ".sha256", "every token needs sha256 (`sekisho admin token` prints it)");
    } else {
      std::transform(t.sha256.begin(), t.sha256.end(), t.sha256.begin(), [](unsigned char c) { return std::tolower(c); });
      const bool hex = t.sha256.size() == 64 && std::all_of(t.sha256.begin(), t.sha256.end(), [](char c) {
                         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       });
      if (!hex) r.error(item["sha256"], ipath + ".sha256", "expected 64 hex digits (the SHA-256 of the token, not the token)");
    }
    out.tokens.push_back(std::move(t));
  });
}

// A tenant-admin token for a tenant that does not exist would be a dead credential today and
// a silent grant the day someone adds a tenant by that id.
void check_admin_tenants(LoadResult& result) {
  const Settings& s = result.settings;
  for (size_t i = 0; i < s.admin.tokens.size(); ++i) {
    const AdminTokenSettings& t = s.admin.tokens[i];
    if (t.role != AdminRole::tenant_admin || t.tenant.empty()) continue;
    const bool known = std::any_of(s.tenants.begin(), s.tenants.end(), [&](const TenantSettings& x) { return x.id == t.tenant; });
    if (!known)
      result.errors.push_back(ConfigError{t.mark.file, t.mark.line, t.mark.column,
                                          "admin.tokens[" + std::to_string(i) + "].tenant",
                                          "unknown tenant '" + t.tenant + "'"});
  }
}

void read_intercept(Reader& r, const YAML::Node& node, InterceptSettings& out) {
  const std::string path = "intercept";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"listen", "ca_dir", "cert_cache_dir", "template_dir", "origin_ca_file", "allow_private",
                            "max_header_bytes", "max_body_bytes", "header_timeout_ms", "idle_timeout_ms",
                            "origin_timeout_ms", "origin_https_port", "origin_http_port", "leaf_validity_hours",
                            "cert_cache_entries", "limits", "status_directory"});
  r.read_map(node, "listen", path, {"http", "https"}, [&](const YAML::Node& listen, const std::string& lpath) {
    read_address_list(r, listen, "http", lpath, 80, out.http_listen);
    read_address_list(r, listen, "https", lpath, 443, out.https_listen);
  });
  r.read_string(node, "ca_dir", path, out.ca_dir);
  r.read_string(node, "cert_cache_dir", path, out.cert_cache_dir);
  r.read_string(node, "template_dir", path, out.template_dir);
  r.read_string(node, "origin_ca_file", path, out.origin_ca_file);
  read_network_list(r, node, "allow_private", path, out.allow_private);
  r.read_uint(node, "max_header_bytes", path, out.max_header_bytes, 1024, 1024 * 1024);
  r.read_uint(node, "max_body_bytes", path, out.max_body_bytes, 0, 0xFFFFFFFFu);
  r.read_uint(node, "header_timeout_ms", path, out.header_timeout_ms, 100, 600000);
  r.read_uint(node, "idle_timeout_ms", path, out.idle_timeout_ms, 100, 3600000);
  r.read_uint(node, "origin_timeout_ms", path, out.origin_timeout_ms, 100, 600000);
  r.read_uint(node, "origin_https_port", path, out.origin_https_port, 1, 65535);
  r.read_uint(node, "origin_http_port", path, out.origin_http_port, 1, 65535);
  r.read_uint(node, "leaf_validity_hours", path, out.leaf_validity_hours, 25, 24 * 397);
  r.read_uint(node, "cert_cache_entries", path, out.cert_cache_entries, 1, 10000000);
  if (YAML::Node limits = node["limits"]; limits.IsDefined()) read_described(r, limits, path + ".limits", out.limits);
  r.read_string(node, "status_directory", path, out.status_directory);
}

// `configured` (the tenants_dir key, maybe empty) as a directory: relative to the main file's.
std::filesystem::path resolve_tenants_dir(const std::string& main_file, const std::string& configured) {
  const std::filesystem::path base = std::filesystem::path(main_file).parent_path();
  std::filesystem::path dir = configured.empty() ? base / "tenants.d" : (base / configured).lexically_normal();
  // "…/tenants.d/" and "…/tenants.d" are one directory; the writers compare parents with it.
  if (dir.filename().empty() && dir.has_parent_path()) dir = dir.parent_path();
  return dir;  // an absolute `configured` replaced base
}

// tenants_dir's *.yaml: more tenants and policies, one file per tenant usually.
void read_tenant_files(const std::string& main_file, const TenantFileOverrides& overrides, LoadResult& result) {
  namespace fs = std::filesystem;
  const fs::path dir = resolve_tenants_dir(main_file, result.settings.tenants_dir);
  const auto is_yaml = [](const fs::path& p) { return p.extension() == ".yaml" || p.extension() == ".yml"; };
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_yaml(e.path()) && !overrides.count(e.path().string())) files.push_back(e.path().string());
  for (const auto& [file, text] : overrides)
    if (text && is_yaml(file) && fs::path(file).parent_path() == dir) files.push_back(file);
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    Reader r(file, result.errors);
    YAML::Node root;
    try {
      auto over = overrides.find(file);
      root = over != overrides.end() ? YAML::Load(*over->second) : YAML::LoadFile(file);
    } catch (const YAML::ParserException& e) {
      result.errors.push_back(ConfigError{file, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg});
      continue;
    } catch (const YAML::Exception& e) {
      result.errors.push_back(ConfigError{file, 0, 0, "", std::string("cannot read: ") + e.what()});
      continue;
    }
    if (root.IsNull()) continue;
    r.check_duplicate_keys(root);
    if (!root.IsMap()) {
      r.error(root, "", "a tenants.d file must be a mapping with 'tenants' and/or 'policies'");
      continue;
    }
    r.check_keys(root, "", {"tenants", "policies"});
    if (YAML::Node n = root["tenants"]; n.IsDefined()) read_tenants(r, n, result.settings.tenants);
    if (YAML::Node n = root["policies"]; n.IsDefined()) read_policies(r, n, result.settings.policies);
  }
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
    if (auto a = net::parse_socket_address(value, kDnsPort, why)) {
      UpstreamSettings up;
      up.address = *a;
      out.push_back(up);
    }
  }
  return out;
}

// The categories file the settings name, read last (its problems follow the others').
void read_categories(LoadResult& result) {
  Settings& s = result.settings;
  if (!s.categories_file.empty()) s.categories = read_category_file(s.categories_file, result.errors);
}

// The main file's text alone (no tenants.d, no categories file).
LoadResult read_main_text(std::string_view yaml, const std::string& source_name) {
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
  r.check_duplicate_keys(root);
  if (!root.IsMap()) {
    r.error(root, "", "the configuration must be a mapping at the top level");
    return result;
  }
  r.check_keys(root, "", {"server", "upstreams", "forwarding", "cache", "log", "category_db", "categories_file", "blockpage", "tenants",
                          "policies", "querylog", "limits", "intercept", "admin", "feeds", "feed_service", "tenants_dir", "fleet"});
  if (YAML::Node n = root["server"]; n.IsDefined()) read_server(r, n, s.server);
  if (YAML::Node n = root["upstreams"]; n.IsDefined()) read_upstreams(r, n, s.upstreams);
  else s.upstreams = resolv_conf_upstreams();
  if (YAML::Node n = root["forwarding"]; n.IsDefined()) read_forwarding(r, n, s.forwarding);
  if (YAML::Node n = root["limits"]; n.IsDefined()) read_described(r, n, "limits", s.limits);
  if (YAML::Node n = root["cache"]; n.IsDefined()) read_cache(r, n, s.cache);
  if (YAML::Node n = root["log"]; n.IsDefined()) read_log(r, n, s);
  if (r.read_string(root, "category_db", "", s.category_db)) s.category_db_mark = r.mark(root["category_db"]);
  r.read_string(root, "categories_file", "", s.categories_file);
  r.read_string(root, "tenants_dir", "", s.tenants_dir);
  if (YAML::Node n = root["blockpage"]; n.IsDefined()) read_blockpage(r, n, s.blockpage);
  if (YAML::Node n = root["tenants"]; n.IsDefined()) read_tenants(r, n, s.tenants);
  if (YAML::Node n = root["policies"]; n.IsDefined()) read_policies(r, n, s.policies);
  if (YAML::Node n = root["querylog"]; n.IsDefined()) read_querylog(r, n, s.querylog);
  if (YAML::Node n = root["intercept"]; n.IsDefined()) read_intercept(r, n, s.intercept);
  if (YAML::Node n = root["admin"]; n.IsDefined()) read_admin(r, n, s.admin);
  if (YAML::Node n = root["feeds"]; n.IsDefined()) read_feeds(r, n, s.feeds);
  if (YAML::Node n = root["feed_service"]; n.IsDefined()) {
    r.read_map(root, "feed_service", "", {"notify_listen", "state_directory"}, [&](const YAML::Node& m, const std::string& p) {
      read_address_list(r, m, "notify_listen", p, kDnsPort, s.feed_service.notify_listen);
      r.read_string(m, "state_directory", p, s.feed_service.state_directory);
    });
  }
  if (YAML::Node n = root["fleet"]; n.IsDefined()) read_described(r, n, "fleet", s.fleet);
  if (!s.feeds.empty() && s.category_db.empty())
    r.error(root["feeds"], "feeds", "feeds write into the category store: set category_db");

  if (s.server.dns_listen.empty())
    r.error(root["server"].IsDefined() ? root["server"] : root, "server.listen.dns", "at least one listen address is required");
  if (s.upstreams.empty())
    r.error(root["upstreams"].IsDefined() ? root["upstreams"] : root, "upstreams",
            "no upstream resolvers (none configured and none in /etc/resolv.conf)");
  return result;
}

}  // namespace

LoadResult EmbeddedDefaultsSource::read() const {
  return load_config_text(embedded_default_config(), describe());
}

LoadResult load_config_text(std::string_view yaml, const std::string& source_name) {
  LoadResult result = read_main_text(yaml, source_name);
  read_categories(result);
  return result;
}

std::filesystem::path tenants_dir(const std::string& main_file) {
  std::string configured;
  try {
    const YAML::Node root = YAML::LoadFile(main_file);
    if (root.IsMap() && root["tenants_dir"].IsScalar()) configured = root["tenants_dir"].as<std::string>();
  } catch (const YAML::Exception&) {
    // The loader reports the file's problems; until it is fixed, nothing is read from tenants.d.
  }
  return resolve_tenants_dir(main_file, configured);
}

LoadResult load_config_file(const std::string& path) { return load_config_file(path, {}); }

LoadResult load_config_file(const std::string& path, const TenantFileOverrides& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "", "cannot open the file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  LoadResult result = read_main_text(buffer.str(), path);
  read_tenant_files(path, overrides, result);
  check_admin_tenants(result);
  read_categories(result);
  return result;
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
# Demo filtering: loopback clients are one tenant whose policy blocks the demo data's
# adult, gambling, malware and phishing names (etc/demo/categories.csv, *.example only).
blockpage:
  ipv4: 127.0.0.1
  ipv6: "::1"
  ttl: 60
tenants:
  - id: demo
    name: "Demo 関所"
    networks: ["127.0.0.0/8", "::1/128"]
    policy: demo
policies:
  demo:
    block: [adult, gambling, malware, phishing, cryptojacking]
    deny: [blocked.example]
)";
}

}  // namespace sekisho::config
