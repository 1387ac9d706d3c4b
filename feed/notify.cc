// feed/notify.cc — NOTIFY listener (see notify.h).
#include "feed/notify.h"

#include <netinet/in.h>
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

void answer(int fd, const ldns_pkt* query, ldns_pkt_rcode rcode, const TsigKey* sign_with, const sockaddr_storage& to,
            socklen_t to_len) {
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
      return;  // cannot sign: no answer rather than an unsigned one
    }
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, resp.get(), &size) != LDNS_STATUS_OK) return;
  ::sendto(fd, wire, size, 0, reinterpret_cast<const sockaddr*>(&to), to_len);
  free(wire);
}

}  // namespace

std::vector<int> open_notify_sockets(const std::vector<net::SocketAddress>& addresses) {
  std::vector<int> fds;
  for (const auto& a : addresses) {
    int fd = ::socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && a.family() == AF_INET6) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (fd < 0 || ::bind(fd, a.get(), a.length) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      for (int f : fds) ::close(f);
      throw std::runtime_error(base::errno_text("NOTIFY listener " + a.to_string() + ": bind", err));
    }
    fds.push_back(fd);
  }
  return fds;
}

std::optional<size_t> handle_notify(int fd, const std::vector<NotifyTarget>& targets, std::string& why) {
  uint8_t buf[65535];
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n <= 0) return std::nullopt;
  const std::string peer = net::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), from_len).to_string();
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, buf, static_cast<size_t>(n)) != LDNS_STATUS_OK) {
    why = "malformed message from " + peer;
    return std::nullopt;  // no answer to what we cannot read
  }
  Pkt query(raw);
  if (ldns_pkt_qr(query.get())) return std::nullopt;  // an answer: never answer answers
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_NOTIFY) {
    why = "not a NOTIFY (opcode " + std::to_string(static_cast<int>(ldns_pkt_get_opcode(query.get()))) + ") from " + peer;
    answer(fd, query.get(), LDNS_RCODE_NOTIMPL, nullptr, from, from_len);
    return std::nullopt;
  }
  ldns_rr_list* q = ldns_pkt_question(query.get());
  if (ldns_rr_list_rr_count(q) != 1) {
    why = "NOTIFY without one question from " + peer;
    answer(fd, query.get(), LDNS_RCODE_FORMERR, nullptr, from, from_len);
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
    answer(fd, query.get(), LDNS_RCODE_REFUSED, nullptr, from, from_len);
    return std::nullopt;
  }
  const NotifyTarget& t = targets[*match];
  if (!same_ip(t.primary, from)) {
    why = "NOTIFY for " + zone + " from " + peer + ": not the feed's primary " + t.primary.to_string();
    answer(fd, query.get(), LDNS_RCODE_REFUSED, nullptr, from, from_len);
    return std::nullopt;
  }
  if (t.key) {
    const ldns_rr* tsig = ldns_pkt_tsig(query.get());
    if (!tsig) {
      why = "NOTIFY for " + zone + " from " + peer + ": not signed (the feed has TSIG key " + t.key->name + ")";
      answer(fd, query.get(), LDNS_RCODE_NOTAUTH, nullptr, from, from_len);
      return std::nullopt;
    }
    if (!ldns_pkt_tsig_verify(query.get(), buf, static_cast<size_t>(n), t.key->name.c_str(), t.key->secret.c_str(),
                              nullptr)) {
      why = "NOTIFY for " + zone + " from " + peer + ": TSIG does not verify with key " + t.key->name;
      answer(fd, query.get(), LDNS_RCODE_NOTAUTH, nullptr, from, from_len);
      return std::nullopt;
    }
  }
  answer(fd, query.get(), LDNS_RCODE_NOERROR, t.key, from, from_len);
  return match;
}

}  // namespace sekisho::feed
