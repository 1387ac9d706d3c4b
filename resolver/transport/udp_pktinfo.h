// Answering a UDP query from the address it was sent to.
//
// A socket bound to one address answers from that address. A socket bound to the wildcard
// (0.0.0.0, [::]) would answer from the kernel's preferred source for the route back, and a
// client that asked a secondary address or a VIP (127.0.0.2, a keepalived address) drops that
// answer as coming from the wrong server. So wildcard sockets ask the kernel for each datagram's
// destination (IP_PKTINFO, IPV6_RECVPKTINFO) and the answer names it as its source in the same
// control message, as Unbound's interface-automatic and dnsdist do. Everything here works on
// caller-owned fixed buffers: the receive path allocates nothing.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "net/address.h"

namespace sekisho::net {

// The local address a query was sent to, and the interface it came in on.
struct QueryDestination {
  // AF_INET: `v4`; AF_INET6: `v6` (an IPv4 query on a dual-stack IPv6 socket is v4-mapped);
  // AF_UNSPEC: unknown (the kernel sent no packet info).
  sa_family_t family = AF_UNSPEC;
  // Reported per datagram on a wildcard socket: the answer must name it as its source. False
  // for a socket bound to one address, where the kernel already answers from it.
  bool from_pktinfo = false;
  uint32_t ifindex = 0;
  in_addr v4{};
  in6_addr v6{};
};

// Room for one in6_pktinfo control message and one more the kernel might add; cmsghdr-aligned
// as CMSG_FIRSTHDR requires.
struct alignas(cmsghdr) ControlBuffer {
  std::array<uint8_t, 64> bytes;
};
static_assert(CMSG_SPACE(sizeof(in6_pktinfo)) <= sizeof(ControlBuffer::bytes));
static_assert(CMSG_SPACE(sizeof(in_pktinfo)) <= sizeof(ControlBuffer::bytes));

// The destination of every query on a socket bound to `bound` (one address, not the wildcard).
inline QueryDestination fixed_destination(const SocketAddress& bound) {
  QueryDestination d;
  d.family = static_cast<sa_family_t>(bound.family());
  if (d.family == AF_INET) d.v4 = reinterpret_cast<const sockaddr_in*>(&bound.storage)->sin_addr;
  else if (d.family == AF_INET6) d.v6 = reinterpret_cast<const sockaddr_in6*>(&bound.storage)->sin6_addr;
  return d;
}

// Asks the kernel to attach each datagram's destination to what recvmsg returns. On an IPv6
// socket IPV6_RECVPKTINFO also covers IPv4 queries if the socket is dual-stack. Returns the
// setsockopt result (errno set on failure).
inline int request_destinations(int fd, int family) {
  const int one = 1;
  if (family == AF_INET) return ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  return ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
}

// The destination the kernel reported in a received message's control data; AF_UNSPEC when
// there is none (control data truncated, or the socket was not asked).
inline QueryDestination read_destination(const msghdr& h) {
  QueryDestination d;
  if (h.msg_flags & MSG_CTRUNC) return d;
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      d.family = AF_INET;
      // ipi_spec_dst, not ipi_addr: for unicast both are the address the client asked; for a
      // broadcast it is the receiving interface's address, the only one an answer can come from.
      d.v4 = info.ipi_spec_dst;
      d.ifindex = static_cast<uint32_t>(info.ipi_ifindex);
      d.from_pktinfo = true;
      return d;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      d.family = AF_INET6;
      d.v6 = info.ipi6_addr;
      d.ifindex = info.ipi6_ifindex;
      d.from_pktinfo = true;
      return d;
    }
  }
  return d;
}

// Makes the message sent with `h` leave from `d` when `d` came from packet info; otherwise
// leaves `h` without control data (the kernel's choice is already right). `buffer` must live
// until the send.
inline void set_source(msghdr& h, const QueryDestination& d, ControlBuffer& buffer) {
  h.msg_control = nullptr;
  h.msg_controllen = 0;
  if (!d.from_pktinfo) return;
  std::memset(buffer.bytes.data(), 0, CMSG_SPACE(sizeof(in6_pktinfo)));
  h.msg_control = buffer.bytes.data();
  cmsghdr* c = reinterpret_cast<cmsghdr*>(buffer.bytes.data());
  if (d.family == AF_INET) {
    in_pktinfo info{};
    // No interface: the routing table picks the way back, as for any other packet (a query may
    // come in on one interface and its client be routed through another).
    info.ipi_spec_dst = d.v4;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    h.msg_controllen = CMSG_SPACE(sizeof info);
    return;
  }
  in6_pktinfo info{};
  info.ipi6_addr = d.v6;
  // A link-local source means nothing without its link; any other address lets routing choose,
  // as for IPv4. (For a v4-mapped address the kernel uses the IPv4 address and routes alike.)
  if (IN6_IS_ADDR_LINKLOCAL(&d.v6)) info.ipi6_ifindex = d.ifindex;
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(c), &info, sizeof info);
  h.msg_controllen = CMSG_SPACE(sizeof info);
}

}  // namespace sekisho::net
