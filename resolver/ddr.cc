#include "resolver/ddr.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/respond.h"

namespace sekisho::resolver {
namespace {

constexpr uint8_t kDdrName[] = {4, '_', 'd', 'n', 's', 8, 'r', 'e', 's', 'o', 'l', 'v', 'e', 'r', 4, 'a', 'r', 'p', 'a', 0};

// SvcParamKeys, RFC 9460 §14.3.2 and RFC 9461 §5 (dohpath).
constexpr uint16_t kKeyAlpn = 1;
constexpr uint16_t kKeyPort = 3;
constexpr uint16_t kKeyIpv4Hint = 4;
constexpr uint16_t kKeyIpv6Hint = 6;
constexpr uint16_t kKeyDohPath = 7;
constexpr size_t kMaxHints = 4;  // per family: both records then fit a 512-byte UDP answer

// Appends to a fixed buffer; `ok` turns false (and stays) when something does not fit.
struct Writer {
  uint8_t* p;
  size_t cap;
  size_t n = 0;
  bool ok = true;
  uint8_t* reserve(size_t len) {
    if (!ok || n + len > cap) {
      ok = false;
      return nullptr;
    }
    uint8_t* at = p + n;
    n += len;
    return at;
  }
  void bytes(const void* src, size_t len) {
    if (uint8_t* at = reserve(len)) std::memcpy(at, src, len);
  }
  void u16(uint16_t v) {
    if (uint8_t* at = reserve(2)) dns::write_u16(at, v);
  }
};

// "dns.example.net" → wire form; false if a label is empty or too long (the loader already
// validated public_name, so this only guards the buffer).
bool put_name(Writer& w, const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t dot = text.find('.', start);
    if (dot == std::string::npos) dot = text.size();
    const size_t len = dot - start;
    if (len == 0 || len > 63) return false;
    const uint8_t l = static_cast<uint8_t>(len);
    w.bytes(&l, 1);
    w.bytes(text.data() + start, len);
    start = dot + 1;
  }
  const uint8_t root = 0;
  w.bytes(&root, 1);
  return w.ok;
}

// One hint SvcParam (ipv4hint or ipv6hint) from the specific listeners on `port`.
void put_hints(Writer& w, const std::vector<net::SocketAddress>& listen, uint16_t port, int family) {
  const size_t size = family == AF_INET ? 4 : 16;
  size_t count = 0;
  for (const auto& a : listen)
    if (a.family() == family && a.port() == port && !net::is_wildcard(a) && count < kMaxHints) ++count;
  if (count == 0) return;
  w.u16(family == AF_INET ? kKeyIpv4Hint : kKeyIpv6Hint);
  w.u16(static_cast<uint16_t>(count * size));
  size_t written = 0;
  for (const auto& a : listen) {
    if (a.family() != family || a.port() != port || net::is_wildcard(a) || written == count) continue;
    if (family == AF_INET) w.bytes(&reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, 4);
    else w.bytes(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, 16);
    ++written;
  }
}

// One SVCB record owned by the question name (pointer to offset 12). SvcParams in increasing
// key order, as RFC 9460 §2.2 requires.
void put_svcb(Writer& w, uint16_t priority, const std::string& target, std::string_view alpn,
              const std::vector<net::SocketAddress>& listen, std::string_view dohpath) {
  const uint16_t port = listen.front().port();
  w.u16(0xC00C);
  w.u16(dns::qtype::kSvcb);
  w.u16(dns::kClassIn);
  if (uint8_t* ttl = w.reserve(4)) dns::write_u32(ttl, kDdrTtl);
  const size_t rdlength_at = w.n;
  w.u16(0);
  w.u16(priority);
  put_name(w, target);  // TargetName is never compressed (RFC 9460 §2.2)
  w.u16(kKeyAlpn);
  w.u16(static_cast<uint16_t>(alpn.size() + 1));
  const uint8_t alpn_len = static_cast<uint8_t>(alpn.size());
  w.bytes(&alpn_len, 1);
  w.bytes(alpn.data(), alpn.size());
  w.u16(kKeyPort);
  w.u16(2);
  w.u16(port);
  put_hints(w, listen, port, AF_INET);
  put_hints(w, listen, port, AF_INET6);
  if (!dohpath.empty()) {
    w.u16(kKeyDohPath);
    w.u16(static_cast<uint16_t>(dohpath.size()));
    w.bytes(dohpath.data(), dohpath.size());
  }
  if (w.ok) dns::write_u16(w.p + rdlength_at, static_cast<uint16_t>(w.n - rdlength_at - 2));
}

bool advertised(const std::vector<net::SocketAddress>& listen) { return !listen.empty() && listen.front().port() != 0; }

}  // namespace

bool is_ddr_query(const DecodedQuery& q) {
  return q.question.qclass == dns::kClassIn && q.question.qname_len == sizeof kDdrName &&
         std::memcmp(q.question.qname_lower, kDdrName, sizeof kDdrName) == 0;
}

size_t write_ddr(const DecodedQuery& q, const config::ServerSettings& server, std::span<uint8_t> out, size_t limit) {
  uint8_t rrs[1024];
  Writer w{rrs, sizeof rrs};
  uint16_t count = 0;
  if (q.question.qtype == dns::qtype::kSvcb && !server.public_name.empty()) {
    if (advertised(server.doh_listen)) {
      put_svcb(w, 1, server.public_name, "h2", server.doh_listen, "/dns-query{?dns}");  // RFC 8484 §4.1 path
      ++count;
    }
    if (advertised(server.dot_listen)) {
      put_svcb(w, 2, server.public_name, "dot", server.dot_listen, {});
      ++count;
    }
  }
  if (!w.ok) {  // cannot happen with a valid public_name and kMaxHints; NODATA rather than garbage
    count = 0;
    w.n = 0;
  }
  return write_synthesized(q, dns::Rcode::noerror, std::span(rrs, w.n), count, 0, nullptr, out, limit);
}

}  // namespace sekisho::resolver
