// feed/notify.cc — NOTIFY listener (see notify.h).
#include "feed/notify.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "base/text.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::feed {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

bool same_ip(const net::SocketAddress& a, const sockaddr_storage& b) {
  if (a.family() != b.ss_family) return false;
  if (a.family() == AF_INET)
    return std::memcmp(&reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr,
                       &reinterpret_cast<const sockaddr_in*>(&b)->sin_addr, sizeof(in_addr)) == 0;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&b)->sin6_addr, sizeof(in6_addr)) == 0;
}

// The answer's wire form ("" when it cannot be built or signed: no answer rather than an
// unsigned one).
std::string answer(const ldns_pkt* query, ldns_pkt_rcode rcode, const TsigKey* sign_with) {
  Pkt resp(ldns_pkt_new());
  ldns_pkt_set_id(resp.get(), ldns_pkt_id(query));
  ldns_pkt_set_qr(resp.get(), true);
  ldns_pkt_set_aa(resp.get(), rcode == LDNS_RCODE_NOERROR);
  ldns_pkt_set_opcode(resp.get(), ldns_pkt_get_opcode(query));
  ldns_pkt_set_rcode(resp.get(), static_cast<uint8_t>(rcode));
  ldns_rr_list* q = ldns_pkt_question(query);
  for (size_t i = 0; i < ldns_rr_list_rr_count(q); ++i)
    ldns_pkt_push_rr(resp.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(q, i)));
  if (sign_with && ldns_pkt_tsig(query)) {
    try {
      tsig_sign(resp.get(), *sign_with, ldns_rr_rdf(ldns_pkt_tsig(query), 3));
    } catch (const XfrError&) {
      return {};
    }
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, resp.get(), &size) != LDNS_STATUS_OK) return {};
  std::string out(reinterpret_cast<const char*>(wire), size);
  free(wire);
  return out;
}

// RFC 1996 processing of one message from `peer`; `reply` gets the answer ("" for none).
std::optional<size_t> process(const uint8_t* buf, size_t n, const sockaddr_storage& from, socklen_t from_len,
                              const std::vector<NotifyTarget>& targets, std::string& why, std::string& reply) {
  const std::string peer = net::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), from_len).to_string();
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, buf, n) != LDNS_STATUS_OK) {
    why = "malformed message from " + peer;
    return std::nullopt;  // no answer to what we cannot read
  }
  Pkt query(raw);
  if (ldns_pkt_qr(query.get())) return std::nullopt;  // an answer: never answer answers
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_NOTIFY) {
    why = "not a NOTIFY (opcode " + std::to_string(static_cast<int>(ldns_pkt_get_opcode(query.get()))) + ") from " + peer;
    reply = answer(query.get(), LDNS_RCODE_NOTIMPL, nullptr);
    return std::nullopt;
  }
  ldns_rr_list* q = ldns_pkt_question(query.get());
  if (ldns_rr_list_rr_count(q) != 1) {
    why = "NOTIFY without one question from " + peer;
    reply = answer(query.get(), LDNS_RCODE_FORMERR, nullptr);
    return std::nullopt;
  }
  char* qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(q, 0)));
  const std::string zone = base::ascii_lower(qn ? qn : "");
  free(qn);
  std::optional<size_t> match;
  for (size_t i = 0; i < targets.size() && !match; ++i)
    if (targets[i].zone == zone) match = i;
  if (!match) {
    why = "NOTIFY for " + zone + " from " + peer + ": no feed has this zone";
    reply = answer(query.get(), LDNS_RCODE_REFUSED, nullptr);
    return std::nullopt;
  }
  const NotifyTarget& t = targets[*match];
  if (!same_ip(t.primary, from)) {
    why = "NOTIFY for " + zone + " from " + peer + ": not the feed's primary " + t.primary.to_string();
    reply = answer(query.get(), LDNS_RCODE_REFUSED, nullptr);
    return std::nullopt;
  }
  if (t.key) {
    if (!ldns_pkt_tsig(query.get())) {
      why = "NOTIFY for " + zone + " from " + peer + ": not signed (the feed has TSIG key " + t.key->name + ")";
      reply = answer(query.get(), LDNS_RCODE_NOTAUTH, nullptr);
      return std::nullopt;
    }
    if (!ldns_pkt_tsig_verify(query.get(), buf, n, t.key->name.c_str(), t.key->secret.c_str(), nullptr)) {
      why = "NOTIFY for " + zone + " from " + peer + ": TSIG does not verify with key " + t.key->name;
      reply = answer(query.get(), LDNS_RCODE_NOTAUTH, nullptr);
      return std::nullopt;
    }
  }
  reply = answer(query.get(), LDNS_RCODE_NOERROR, t.key);
  return match;
}

// Reads or writes exactly `size` bytes on a connection within `deadline_ms` in all.
bool exchange_all(int fd, uint8_t* data, size_t size, bool write, int deadline_ms) {
  size_t done = 0;
  while (done < size) {
    pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    if (::poll(&p, 1, deadline_ms) <= 0) return false;
    ssize_t n = write ? ::send(fd, data + done, size - done, MSG_NOSIGNAL) : ::recv(fd, data + done, size - done, 0);
    if (n <= 0) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

NotifySockets open_notify_sockets(const std::vector<net::SocketAddress>& addresses) {
  NotifySockets out;
  auto fail = [&](const net::SocketAddress& a, const char* what, int err, int fd) {
    if (fd >= 0) ::close(fd);
    for (int f : out.udp) ::close(f);
    for (int f : out.tcp) ::close(f);
    throw std::runtime_error(base::errno_text("NOTIFY listener " + a.to_string() + ": " + what, err));
  };
  for (const auto& a : addresses) {
    for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
      int fd = ::socket(a.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) fail(a, "socket", errno, fd);
      int one = 1;
      if (a.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, a.get(), a.length) != 0) fail(a, "bind", errno, fd);
      if (type == SOCK_STREAM && ::listen(fd, 16) != 0) fail(a, "listen", errno, fd);
      (type == SOCK_DGRAM ? out.udp : out.tcp).push_back(fd);
    }
  }
  return out;
}

std::optional<size_t> handle_notify_udp(int fd, const std::vector<NotifyTarget>& targets, std::string& why) {
  uint8_t buf[65535];
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n <= 0) return std::nullopt;
  std::string reply;
  auto match = process(buf, static_cast<size_t>(n), from, from_len, targets, why, reply);
  if (!reply.empty()) ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&from), from_len);
  return match;
}

std::optional<size_t> handle_notify_tcp(int listen_fd, const std::vector<NotifyTarget>& targets, std::string& why) {
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
  // One framed message per connection (RFC 7766 framing), as primaries send a NOTIFY; a peer
  // that is slower than this loses its NOTIFY, and the timers still refresh.
  constexpr int kTimeoutMs = 2000;
  uint8_t len[2];
  if (!exchange_all(fd, len, 2, false, kTimeoutMs)) return std::nullopt;
  const size_t size = (size_t{len[0]} << 8) | len[1];
  std::vector<uint8_t> buf(size);
  if (size == 0 || !exchange_all(fd, buf.data(), size, false, kTimeoutMs)) return std::nullopt;
  std::string reply;
  auto match = process(buf.data(), size, from, from_len, targets, why, reply);
  if (!reply.empty()) {
    std::string framed(2, '\0');
    framed[0] = static_cast<char>(reply.size() >> 8);
    framed[1] = static_cast<char>(reply.size() & 0xff);
    framed += reply;
    exchange_all(fd, reinterpret_cast<uint8_t*>(framed.data()), framed.size(), true, kTimeoutMs);
  }
  return match;
}

}  // namespace sekisho::feed
