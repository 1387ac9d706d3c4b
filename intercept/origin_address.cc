#include "intercept/origin_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "policy/domain_list.h"
#include "dns/wire.h"

namespace sekisho::intercept {
namespace {

constexpr uint16_t kTypeA = 1, kTypeAAAA = 28;

bool in_network(const config::NetworkSettings& n, int family, const uint8_t* addr) {
  if (n.family != family) return false;
  unsigned bits = n.prefix_length;
  for (unsigned i = 0; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((addr[i] & mask) != (n.address[i] & mask)) return false;
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct Answer {
  bool answered = false;
  std::vector<std::pair<uint16_t, std::string>> records;  // (type, rdata)
  uint32_t ttl = 0;
};

// One question to one upstream over UDP; the records of `type` in the answer section (those of
// the CNAME chain's final name, as a resolver returns them).
Answer ask(const config::UpstreamSettings& up, const std::string& qname, uint16_t type, uint32_t timeout_ms) {
  Answer out;
  uint16_t id;
  RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id);
  std::string q(12, '\0');
  q[0] = static_cast<char>(id >> 8), q[1] = static_cast<char>(id), q[2] = 0x01, q[5] = 1;  // RD, QDCOUNT 1
  q += qname;  // wire form, root label included
  q += static_cast<char>(type >> 8);
  q += static_cast<char>(type & 0xFF);
  q += std::string("\0\x01", 2);  // class IN
  Fd s;
  s.fd = ::socket(up.address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return out;
  timeval tv{static_cast<time_t>(timeout_ms / 1000), static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(s.fd, up.address.get(), up.address.length) != 0 || ::send(s.fd, q.data(), q.size(), 0) < 0) return out;
  uint8_t buf[4096];
  for (;;) {  // answers with another ID (late or forged) are skipped until the timeout
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 12) return out;
    if (buf[0] == static_cast<uint8_t>(q[0]) && buf[1] == static_cast<uint8_t>(q[1]) && (buf[2] & 0x80)) {
      std::span<const uint8_t> msg(buf, static_cast<size_t>(n));
      size_t pos = 12;
      dns::Question question;
      if (dns::read_question(msg, pos, question)) {
        out.answered = true;
        const uint16_t ancount = dns::read_u16(buf + 6);
        for (uint16_t i = 0; i < ancount; ++i) {
          dns::RecordView rr;
          if (!dns::walk_record(msg, pos, rr)) break;
          if (rr.type != type) continue;
          const uint32_t ttl = dns::read_u32(buf + rr.type_pos + 4);
          out.ttl = out.records.empty() ? ttl : std::min(out.ttl, ttl);
          out.records.emplace_back(type, std::string(reinterpret_cast<const char*>(buf + rr.rdata_pos), rr.rdlength));
        }
      }
      return out;
    }
  }
}

}  // namespace

bool non_public_address(int family, const uint8_t* a) {
  if (family == AF_INET) {
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xC0) == 64) ||
           (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 192 && a[1] == 0 && a[2] == 2) || (a[0] == 198 && (a[1] & 0xFE) == 18) ||
           (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113) || a[0] >= 224;
  }
  static constexpr uint8_t kZero[16] = {};
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kZero, 15) == 0) return true;  // :: and ::1
  if (std::memcmp(a, kMapped, 12) == 0) return non_public_address(AF_INET, a + 12);  // ::ffff:a.b.c.d is IPv4
  return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || a[0] == 0xFF ||
         (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
}

OriginAddresses resolve_origin(const std::string& host, uint16_t port, const std::vector<config::UpstreamSettings>& upstreams,
                               const std::vector<config::NetworkSettings>& allow_private, uint32_t timeout_ms) {
  OriginAddresses out;
  const std::string qname = policy::to_wire(host);
  const uint32_t wait = std::min<uint32_t>(timeout_ms, 2000);
  bool answered = false;
  for (const auto& up : upstreams) {
    Answer a4 = ask(up, qname, kTypeA, wait);
    if (!a4.answered) {
      out.why = "no answer from " + up.address.to_string() + " for " + host;
      continue;
    }
    Answer a6 = ask(up, qname, kTypeAAAA, wait);
    answered = true;
    bool have_ttl = false;
    for (const Answer* a : {&a4, &a6}) {
      for (const auto& [type, rdata] : a->records) {
        const int family = type == kTypeA ? AF_INET : AF_INET6;
        if (rdata.size() != (family == AF_INET ? 4u : 16u)) continue;
        const auto* bytes = reinterpret_cast<const uint8_t*>(rdata.data());
        char text[INET6_ADDRSTRLEN];
        inet_ntop(family, bytes, text, sizeof text);
        if (non_public_address(family, bytes) &&
            std::none_of(allow_private.begin(), allow_private.end(),
                         [&](const config::NetworkSettings& n) { return in_network(n, family, bytes); })) {
          out.why = host + " resolves to " + text + ", a non-public address (intercept.allow_private does not cover it)";
          continue;
        }
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
        out.addresses.push_back(sa);
        out.ttl = have_ttl ? std::min(out.ttl, a->ttl) : a->ttl;
        have_ttl = true;
      }
    }
    break;
  }
  if (answered && out.addresses.empty() && out.why.empty()) out.why = host + " has no address";
  if (!out.addresses.empty()) out.why.clear();
  if (!answered && out.why.empty()) out.why = "no upstream is configured to resolve " + host;
  return out;
}

}  // namespace sekisho::intercept
