#include "intercept/origin_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/clock.h"
#include "dns/wire.h"
#include "intercept/special_address.h"
#include "policy/domain_list.h"

namespace sekisho::intercept {
namespace {

constexpr uint16_t kTypeA = 1, kTypeAAAA = 28, kTypeCname = 5;
constexpr uint32_t kMaxCacheTtl = 300;
constexpr size_t kMaxCacheEntries = 10000;
constexpr size_t kMaxChain = 16;  // CNAMEs followed in one answer (resolvers stop near 8–16)

bool in_network(const config::NetworkSettings& n, int family, const uint8_t* addr) {
  return n.family == family && prefix_matches(n.address, n.prefix_length, addr);
}

net::SocketAddress socket_address(int family, const uint8_t* bytes, uint16_t port) {
  net::SocketAddress sa;
  if (family == AF_INET) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&sa.storage);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    std::memcpy(&s4->sin_addr, bytes, 4);
    sa.length = sizeof(sockaddr_in);
  } else {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&sa.storage);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, bytes, 16);
    sa.length = sizeof(sockaddr_in6);
  }
  return sa;
}

}  // namespace

std::string refusal(int family, const uint8_t* addr, const std::string& host) {
  const AddressCheck c = check_address(family, addr);
  if (!c.refused_by) return {};
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, addr, text, sizeof text);
  std::string why = host + " resolves to " + text + ", ";
  if (c.embedding) {
    char v4[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, c.embedded_v4, v4, sizeof v4);
    why += "an address of " + std::string(c.embedding->text) + " (" + std::string(c.embedding->name) +
           ") that reaches " + v4 + ", ";
  }
  return why + "in " + std::string(c.refused_by->text) + " (" + std::string(c.refused_by->name) +
         "), a non-public address (intercept.allow_private does not cover it)";
}

bool allowed_private(const std::vector<config::NetworkSettings>& allow_private, int family, const uint8_t* addr) {
  const AddressCheck c = check_address(family, addr);
  return std::any_of(allow_private.begin(), allow_private.end(), [&](const config::NetworkSettings& n) {
    return in_network(n, family, addr) || (c.embedding && in_network(n, AF_INET, c.embedded_v4));
  });
}

void add_answer_addresses(std::span<const uint8_t> msg, size_t question_end, uint16_t type, const std::string& host,
                          uint16_t port, const std::vector<config::NetworkSettings>& allow_private, OriginAddresses& out) {
  const int family = type == kTypeA ? AF_INET : AF_INET6;
  const size_t size = family == AF_INET ? 4 : 16;
  // Only records owned by the name asked, or by a name its CNAME chain leads to in this answer
  // (in order, as a resolver writes it), and of class IN: an answer may carry other records
  // (a forwarder's leftovers, or an attempt to slip in an address for another name).
  struct Name {
    uint8_t wire[dns::kMaxNameWire];
    size_t len = 0;
  };
  std::vector<Name> chain(1);
  if (!dns::expand_name(msg, dns::kHeaderSize, chain[0].wire, chain[0].len)) return;
  std::vector<net::SocketAddress> kept;
  uint32_t ttl = 0;
  bool have_ttl = false;
  size_t pos = question_end;
  const uint16_t ancount = dns::read_header(msg).ancount;
  for (uint16_t i = 0; i < ancount; ++i) {
    dns::RecordView rr;
    if (!dns::walk_record(msg, pos, rr)) break;
    if (rr.rclass != dns::kClassIn || (rr.type != type && rr.type != kTypeCname)) continue;
    Name owner;
    if (!dns::expand_name(msg, rr.name_pos, owner.wire, owner.len) ||
        std::none_of(chain.begin(), chain.end(),
                     [&](const Name& n) { return dns::names_equal_ci(n.wire, n.len, owner.wire, owner.len); }))
      continue;
    if (rr.type == kTypeCname) {  // the chain goes on at its target
      if (chain.size() < kMaxChain && dns::expand_name(msg, rr.rdata_pos, owner.wire, owner.len))
        chain.push_back(owner);
      continue;
    }
    ttl = have_ttl ? std::min(ttl, rr.ttl) : rr.ttl;
    have_ttl = true;
    if (rr.rdlength != size) continue;
    const uint8_t* bytes = msg.data() + rr.rdata_pos;
    if (std::string why = refusal(family, bytes, host); !why.empty() && !allowed_private(allow_private, family, bytes)) {
      out.why = std::move(why);
      continue;
    }
    kept.push_back(socket_address(family, bytes, port));
  }
  if (kept.empty()) return;
  out.ttl = out.addresses.empty() ? ttl : std::min(out.ttl, ttl);
  out.addresses.insert(out.addresses.end(), kept.begin(), kept.end());
}

// One lookup in progress: A and AAAA asked at once; the callers waiting for it.
struct OriginResolver::Lookup {
  std::string host;
  uint16_t port = 0;
  std::vector<Callback> waiters;
  // Per question, A then AAAA:
  bool answered[2] = {false, false};
  std::string failure[2];    // when not answered: what the last attempt met
  OriginAddresses found[2];  // the addresses the answer gave
  int pending = 2;
};

OriginResolver::OriginResolver(uv_loop_t* loop, const std::vector<config::UpstreamSettings>& upstreams,
                               const config::ForwardingSettings& forwarding,
                               std::vector<config::NetworkSettings> allow_private)
    : client_(loop, upstreams, forwarding), allow_private_(std::move(allow_private)) {}

OriginResolver::~OriginResolver() = default;

void OriginResolver::resolve(const std::string& host, uint16_t port, Callback done) {
  const std::string key = host + "|" + std::to_string(port);
  if (auto it = cache_.find(key); it != cache_.end() && it->second.expires_ms > monotonic_ms())
    return done(it->second.result);
  if (client_.upstreams().size() == 0) {
    OriginAddresses none;
    none.why = "no upstream is configured to resolve " + host;
    return done(none);
  }
  if (auto it = lookups_.find(key); it != lookups_.end()) {
    it->second->waiters.push_back(std::move(done));
    return;
  }
  auto lookup = std::make_unique<Lookup>();
  lookup->host = host;
  lookup->port = port;
  lookup->waiters.push_back(std::move(done));
  lookups_.emplace(key, std::move(lookup));
  const std::string qname = policy::to_wire(host);
  // The client never calls back from inside ask() nor after this resolver is gone.
  for (uint16_t type : {kTypeA, kTypeAAAA})
    client_.ask(qname, type, [this, key, type](const upstream::ClientAnswer& a) { answered(key, type, a); });
}

void OriginResolver::answered(const std::string& key, uint16_t type, const upstream::ClientAnswer& answer) {
  auto it = lookups_.find(key);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  const int i = type == kTypeA ? 0 : 1;
  l.answered[i] = answer.ok;
  l.failure[i] = answer.failure;
  if (answer.ok) add_answer_addresses(answer.msg, answer.question_end, type, l.host, l.port, allow_private_, l.found[i]);
  if (--l.pending > 0) return;

  // Both answers are in: IPv4 first, then IPv6.
  OriginAddresses out;
  for (OriginAddresses& f : l.found) {
    if (!f.addresses.empty()) out.ttl = out.addresses.empty() ? f.ttl : std::min(out.ttl, f.ttl);
    out.addresses.insert(out.addresses.end(), f.addresses.begin(), f.addresses.end());
    if (!f.why.empty()) out.why = f.why;  // the last refused address is named
  }
  if (!out.addresses.empty()) {
    out.why.clear();
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    const uint32_t ttl = std::min(out.ttl, kMaxCacheTtl);
    if (ttl > 0) cache_[key] = {out, monotonic_ms() + ttl * 1000ull};
  } else if (out.why.empty()) {
    const int failed = l.answered[0] ? 1 : 0;
    out.why = l.answered[failed] ? l.host + " has no address" : "no answer for " + l.host + ": " + l.failure[failed];
  }
  const std::unique_ptr<Lookup> done = std::move(it->second);
  lookups_.erase(it);
  for (const Callback& waiter : done->waiters) waiter(out);
}

}  // namespace sekisho::intercept
