// Walks the YAML tree with a small typed reader that records the key path and the node's mark,
// so each message points at the line the user has to fix. Unknown keys are errors: a typo must
// never silently fall back to a default.
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

  SourceMark mark(const YAML::Node& node) const {
    SourceMark m;
    m.file = file_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      m.line = node.Mark().line + 1;
      m.column = node.Mark().column + 1;
    }
    return m;
  }

  // A list of strings (a lone string is taken as a list of one).
  std::vector<std::pair<std::string, YAML::Node>> read_string_list(const YAML::Node& map, std::string_view key,
                                                                    const std::string& path) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return out;
    std::string p = join(path, key);
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar(), node);
      return out;
    }
    if (!node.IsSequence()) {
      error(node, p, "expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        error(node[i], index(p, i), "expected a string");
        continue;
      }
      out.emplace_back(node[i].Scalar(), node[i]);
    }
    return out;
  }

  bool read_bool(const YAML::Node& map, std::string_view key, const std::string& path, bool& out) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return false;
    const std::string& v = node.IsScalar() ? node.Scalar() : std::string();
    if (v == "true" || v == "yes" || v == "on") {
      out = true;
    } else if (v == "false" || v == "no" || v == "off") {
      out = false;
    } else {
      error(node, join(path, key), "expected true or false");
      return false;
    }
    return true;
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

  // The sub-mapping at `key`, when present: checked to be a mapping with only `known` keys, then
  // handed to `read` with its path. Absent is fine (the defaults stay).
  template <typename Read>
  void read_map(const YAML::Node& map, std::string_view key, const std::string& path,
                std::initializer_list<std::string_view> known, Read&& read) {
    YAML::Node node = map[std::string(key)];
    if (!node.IsDefined()) return;
    const std::string p = join(path, key);
    if (!expect_map(node, p)) return;
    check_keys(node, p, known);
    read(node, p);
  }

  // Each item of the list at map[key] with its path (nothing when the key is absent); anything
  // but a list there is reported as "expected a list of <what>". Returns whether a list was read.
  template <typename Item>
  bool read_list(const YAML::Node& map, std::string_view key, const std::string& path, std::string_view what,
                 Item&& item) {
    const YAML::Node list = map[std::string(key)];
    if (!list.IsDefined()) return false;
    const std::string p = join(path, key);
    if (!list.IsSequence()) {
      error(list, p, "expected a list of " + std::string(what));
      return false;
    }
    for (size_t i = 0; i < list.size(); ++i) item(list[i], index(p, i));
    return true;
  }

  // Each item of a list of mappings, checked like read_map; `what` names the list in the error
  // when `node` is not a list at all. An item that is not a mapping is reported and skipped.
  template <typename Read>
  void read_map_list(const YAML::Node& node, const std::string& path, std::string_view what,
                     std::initializer_list<std::string_view> known, Read&& read) {
    if (!node.IsSequence()) {
      error(node, path, "expected a list of " + std::string(what));
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string ipath = index(path, i);
      if (!expect_map(item, ipath)) continue;
      check_keys(item, ipath, known);
      read(item, ipath);
    }
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
  r.read_map(node, "tcp", path, {"idle_timeout_ms", "max_connections", "max_pipelined"},
             [&](const YAML::Node& tcp, const std::string& tpath) {
               r.read_uint(tcp, "idle_timeout_ms", tpath, out.tcp.idle_timeout_ms, 100, 3600000);
               r.read_uint(tcp, "max_connections", tpath, out.tcp.max_connections, 1, 1000000);
               r.read_uint(tcp, "max_pipelined", tpath, out.tcp.max_pipelined, 1, 65535);
             });
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
  const std::string path = "forwarding";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"timeout_ms", "attempts", "tcp_connections_per_upstream", "tcp_idle_timeout_ms"});
  r.read_uint(node, "timeout_ms", path, out.timeout_ms, 10, 60000);
  r.read_uint(node, "attempts", path, out.attempts, 1, 16);
  r.read_uint(node, "tcp_connections_per_upstream", path, out.tcp_connections_per_upstream, 1, 64);
  r.read_uint(node, "tcp_idle_timeout_ms", path, out.tcp_idle_timeout_ms, 100, 600000);
}

void read_log(Reader& r, const YAML::Node& node, Settings& out) {
  const std::string path = "log";
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"level"});
  std::string level;
  if (r.read_string(node, "level", path, level) && !log::parse_level(level, out.log_level))
    r.error(node["level"], path + ".level", "'" + level + "' is not a level (debug | info | warning | error)");
}

// "10.1.0.0/16", "2001:db8::/48", or a bare address (a host route).
void read_network(Reader& r, const YAML::Node& node, const std::string& path, std::vector<NetworkSettings>& out) {
  if (!node.IsScalar()) {
    r.error(node, path, "expected a network such as 10.1.0.0/16 or 2001:db8::/48");
    return;
  }
  const std::string& text = node.Scalar();
  NetworkSettings net;
  net.text = text;
  net.mark = r.mark(node);
  size_t slash = text.find('/');
  std::string host = text.substr(0, slash);
  if (inet_pton(AF_INET, host.c_str(), net.address) == 1) {
    net.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), net.address) == 1) {
    net.family = AF_INET6;
  } else {
    r.error(node, path, "'" + text + "' is not a network (address/prefix)");
    return;
  }
  const unsigned max_prefix = net.family == AF_INET ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string::npos) {
    std::string_view p(text);
    p.remove_prefix(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix > max_prefix) {
      r.error(node, path, "'" + text + "': prefix length must be 0 to " + std::to_string(max_prefix));
      return;
    }
  }
  net.prefix_length = static_cast<uint8_t>(prefix);
  for (unsigned bit = prefix; bit < max_prefix; ++bit) {
    if (net.address[bit / 8] & (0x80 >> (bit % 8))) {
      r.error(node, path, "'" + text + "' has host bits set after the /" + std::to_string(prefix) + " prefix");
      return;
    }
  }
  out.push_back(std::move(net));
}

void read_network_list(Reader& r, const YAML::Node& map, std::string_view key, const std::string& path,
                       std::vector<NetworkSettings>& out) {
  r.read_list(map, key, path, "networks",
              [&](const YAML::Node& item, const std::string& p) { read_network(r, item, p, out); });
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

// "09:00" → 540; "24:00" allowed as the end of the day.
bool parse_time_of_day(const std::string& text, uint16_t& minutes) {
  if (text.size() != 5 || text[2] != ':') return false;
  for (int i : {0, 1, 3, 4})
    if (text[i] < '0' || text[i] > '9') return false;
  int h = (text[0] - '0') * 10 + (text[1] - '0');
  int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return false;
  minutes = static_cast<uint16_t>(h * 60 + m);
  return true;
}

void read_schedule(Reader& r, const YAML::Node& node, const std::string& path, std::vector<ScheduleSettings>& out) {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  r.read_map_list(node, path, "schedule entries", {"block", "days", "from", "to", "timezone"},
                  [&](const YAML::Node& item, const std::string& ipath) {
    ScheduleSettings sched;
    sched.mark = r.mark(item);
    for (auto& [slug, n] : r.read_string_list(item, "block", ipath)) sched.block.push_back(slug);
    if (sched.block.empty()) r.error(item, ipath + ".block", "a schedule entry needs at least one category to block");
    if (item["days"].IsDefined()) {
      sched.days = 0;
      for (auto& [day, n] : r.read_string_list(item, "days", ipath)) {
        auto it = std::find(std::begin(kDays), std::end(kDays), day);
        if (it == std::end(kDays)) {
          r.error(n, ipath + ".days", "'" + day + "' is not a day (mon tue wed thu fri sat sun)");
          continue;
        }
        sched.days |= static_cast<uint8_t>(1u << (it - std::begin(kDays)));
      }
    }
    std::string text;
    if (r.read_string(item, "from", ipath, text) && !parse_time_of_day(text, sched.from_minute))
      r.error(item["from"], ipath + ".from", "\"" + text + "\" is not a time of day (HH:MM)");
    if (r.read_string(item, "to", ipath, text) && !parse_time_of_day(text, sched.to_minute))
      r.error(item["to"], ipath + ".to", "\"" + text + "\" is not a time of day (HH:MM)");
    sched.timezone_mark = sched.mark;
    if (r.read_string(item, "timezone", ipath, sched.timezone)) sched.timezone_mark = r.mark(item["timezone"]);
    out.push_back(std::move(sched));
  });
}

void read_policy(Reader& r, const std::string& name, const YAML::Node& node, PolicySettings& out) {
  const std::string path = "policies." + name;
  out.name = name;
  out.mark = r.mark(node);
  if (!r.expect_map(node, path)) return;
  r.check_keys(node, path, {"block", "allow", "deny", "schedule", "safe_search", "action", "log", "deep_inspection"});
  for (auto& [slug, n] : r.read_string_list(node, "block", path)) {
    out.block.push_back(slug);
    out.block_marks.push_back(r.mark(n));
  }
  for (auto& [pattern, n] : r.read_string_list(node, "allow", path)) out.allow.push_back({pattern, r.mark(n)});
  for (auto& [pattern, n] : r.read_string_list(node, "deny", path)) out.deny.push_back({pattern, r.mark(n)});
  if (YAML::Node sched = node["schedule"]; sched.IsDefined()) read_schedule(r, sched, path + ".schedule", out.schedule);
  r.read_bool(node, "safe_search", path, out.safe_search);
  r.read_bool(node, "deep_inspection", path, out.deep_inspection);
  std::string text;
  if (r.read_string(node, "action", path, text)) {
    if (text == "blockpage") out.action = BlockAction::blockpage;
    else if (text == "nxdomain") out.action = BlockAction::nxdomain;
    else if (text == "nodata") out.action = BlockAction::nodata;
    else if (text == "refused") out.action = BlockAction::refused;
    else r.error(node["action"], path + ".action", "'" + text + "' is not an action (blockpage | nxdomain | nodata | refused)");
  }
  if (r.read_string(node, "log", path, text)) {
    if (text == "full") out.log = LogMode::full;
    else if (text == "anonymized") out.log = LogMode::anonymized;
    else if (text == "none") out.log = LogMode::none;
    else r.error(node["log"], path + ".log", "'" + text + "' is not a log mode (full | anonymized | none)");
  }
}

void read_policies(Reader& r, const YAML::Node& node, std::map<std::string, PolicySettings>& out) {
  if (!r.expect_map(node, "policies")) return;
  for (const auto& kv : node) {
    const std::string name = kv.first.Scalar();
    if (out.count(name)) {
      r.error(kv.first, "policies." + name, "policy '" + name + "' is defined twice (first at " +
                                                 out[name].mark.file + ":" + std::to_string(out[name].mark.line) + ")");
      continue;
    }
    read_policy(r, name, kv.second, out[name]);
  }
}

bool valid_token(std::string_view token) {
  return token.size() >= 8 && token.size() <= 32 &&
         std::all_of(token.begin(), token.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

void read_devices(Reader& r, const YAML::Node& node, const std::string& path, TenantSettings& t) {
  r.read_map_list(node, path, "devices", {"name", "token"}, [&](const YAML::Node& item, const std::string& dpath) {
    DeviceSettings d;
    d.mark = r.mark(item);
    if (!r.read_string(item, "name", dpath, d.name) || d.name.empty()) r.error(item, dpath + ".name", "every device needs a name");
    if (!r.read_string(item, "token", dpath, d.token))
      r.error(item, dpath + ".token", "every device needs a token (`sekisho device add` generates one)");
    else if (!valid_token(d.token))
      r.error(item["token"], dpath + ".token", "a token is 8 to 32 characters of a-z and 0-9 (it becomes a DNS label)");
    for (const auto& other : t.devices)
      if (!d.name.empty() && other.name == d.name) r.error(item["name"], dpath + ".name", "device '" + d.name + "' is listed twice");
    t.devices.push_back(std::move(d));
  });
  if (t.max_devices != 0 && t.devices.size() > t.max_devices)
    r.error(node, path, std::to_string(t.devices.size()) + " devices exceed max_devices " + std::to_string(t.max_devices));
}

void read_tenants(Reader& r, const YAML::Node& node, std::vector<TenantSettings>& out) {
  r.read_map_list(node, "tenants", "tenants", {"id", "name", "contact", "networks", "policy", "max_devices", "devices"},
                  [&](const YAML::Node& item, const std::string& ipath) {
    TenantSettings t;
    t.mark = r.mark(item);
    if (!r.read_string(item, "id", ipath, t.id) || t.id.empty()) {
      r.error(item, ipath + ".id", "every tenant needs an id");
      return;
    }
    const bool id_ok = std::all_of(t.id.begin(), t.id.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (!id_ok) r.error(item["id"], ipath + ".id", "'" + t.id + "': use lower-case letters, digits, '-' and '_'");
    r.read_string(item, "name", ipath, t.name);
    if (t.name.empty()) t.name = t.id;
    read_network_list(r, item, "networks", ipath, t.networks);
    t.policy_mark = t.mark;
    if (!r.read_string(item, "policy", ipath, t.policy)) r.error(item, ipath + ".policy", "every tenant needs a policy");
    else t.policy_mark = r.mark(item["policy"]);
    r.read_uint(item, "max_devices", ipath, t.max_devices, 0, 100000000);
    r.read_string(item, "contact", ipath, t.contact);
    if (YAML::Node devices = item["devices"]; devices.IsDefined()) read_devices(r, devices, ipath + ".devices", t);
    out.push_back(std::move(t));
  });
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
  r.read_map_list(tokens, path + ".tokens", "tokens", {"name", "role", "tenant", "sha256"},
                  [&](const YAML::Node& item, const std::string& ipath) {
    AdminTokenSettings t;
    t.mark = r.mark(item);
    if (!r.read_string(item, "name", ipath, t.name) || t.name.empty()) r.error(item, ipath + ".name", "every token needs a name");
    for (const auto& other : out.tokens)
      if (!t.name.empty() && other.name == t.name) r.error(item["name"], ipath + ".name", "token name '" + t.name + "' is used twice");
    std::string role;
    if (!r.read_string(item, "role", ipath, role)) {
      r.error(item, ipath + ".role", "every token needs a role (operator | tenant-admin)");
    } else if (role == "operator") {
      t.role = AdminRole::operator_role;
    } else if (role == "tenant-admin") {
      t.role = AdminRole::tenant_admin;
    } else {
      r.error(item["role"], ipath + ".role", "'" + role + "' is not a role (operator | tenant-admin)");
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
                            "cert_cache_entries"});
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
}

// tenants.d/*.yaml beside the main file: more tenants and policies, one file per tenant usually.
void read_tenant_files(const std::string& main_file, const TenantFileOverrides& overrides, LoadResult& result) {
  namespace fs = std::filesystem;
  const fs::path dir = tenants_dir(main_file);
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
    if (auto a = net::parse_socket_address(value, kDnsPort, why)) out.push_back({*a, UpstreamTransport::udp});
  }
  return out;
}

}  // namespace

LoadResult EmbeddedDefaultsSource::read() const {
  return load_config_text(embedded_default_config(), describe());
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
  r.check_keys(root, "", {"server", "upstreams", "forwarding", "cache", "log", "category_db", "categories_file", "blockpage", "tenants",
                          "policies", "querylog", "intercept", "admin"});
  if (YAML::Node n = root["server"]; n.IsDefined()) read_server(r, n, s.server);
  if (YAML::Node n = root["upstreams"]; n.IsDefined()) read_upstreams(r, n, s.upstreams);
  else s.upstreams = resolv_conf_upstreams();
  if (YAML::Node n = root["forwarding"]; n.IsDefined()) read_forwarding(r, n, s.forwarding);
  if (YAML::Node n = root["cache"]; n.IsDefined()) read_cache(r, n, s.cache);
  if (YAML::Node n = root["log"]; n.IsDefined()) read_log(r, n, s);
  r.read_string(root, "category_db", "", s.category_db);
  r.read_string(root, "categories_file", "", s.categories_file);
  if (YAML::Node n = root["blockpage"]; n.IsDefined()) read_blockpage(r, n, s.blockpage);
  if (YAML::Node n = root["tenants"]; n.IsDefined()) read_tenants(r, n, s.tenants);
  if (YAML::Node n = root["policies"]; n.IsDefined()) read_policies(r, n, s.policies);
  if (YAML::Node n = root["querylog"]; n.IsDefined()) read_querylog(r, n, s.querylog);
  if (YAML::Node n = root["intercept"]; n.IsDefined()) read_intercept(r, n, s.intercept);
  if (YAML::Node n = root["admin"]; n.IsDefined()) read_admin(r, n, s.admin);

  if (s.server.dns_listen.empty())
    r.error(root["server"].IsDefined() ? root["server"] : root, "server.listen.dns", "at least one listen address is required");
  if (s.upstreams.empty())
    r.error(root["upstreams"].IsDefined() ? root["upstreams"] : root, "upstreams",
            "no upstream resolvers (none configured and none in /etc/resolv.conf)");
  return result;
}

std::filesystem::path tenants_dir(const std::string& main_file) {
  return std::filesystem::path(main_file).parent_path() / "tenants.d";
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
  LoadResult result = load_config_text(buffer.str(), path);
  read_tenant_files(path, overrides, result);
  check_admin_tenants(result);
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
