#include "config/yaml/reader.h"

#include <arpa/inet.h>

#include <unordered_map>
#include <unordered_set>

namespace sekisho::config {

namespace {

void find_duplicates(const YAML::Node& node, const std::string& path, std::unordered_set<size_t>& walked,
                     std::vector<DuplicateKey>& out) {
  if (!node.IsMap() && !node.IsSequence()) return;
  // An aliased collection has its anchor's mark: its byte offset identifies it.
  if (node.Mark().pos >= 0 && !walked.insert(static_cast<size_t>(node.Mark().pos)).second) return;
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) find_duplicates(node[i], Reader::index(path, i), walked, out);
    return;
  }
  std::unordered_map<std::string, int> first_line;
  for (const auto& kv : node) {
    if (kv.first.IsScalar()) {
      const std::string& key = kv.first.Scalar();
      auto [it, fresh] = first_line.try_emplace(key, kv.first.Mark().line + 1);
      if (!fresh) out.push_back(DuplicateKey{kv.first, Reader::join(path, key), it->second});
    }
    find_duplicates(kv.second, Reader::join(path, kv.first.IsScalar() ? kv.first.Scalar() : "?"), walked, out);
  }
}

}  // namespace

std::vector<DuplicateKey> duplicate_keys(const YAML::Node& root) {
  std::vector<DuplicateKey> out;
  std::unordered_set<size_t> walked;
  find_duplicates(root, "", walked, out);
  return out;
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

}  // namespace sekisho::config
