// resolver/transport/udp_pktinfo.h with real kernel sockets on loopback: a wildcard socket learns each
// query's destination and answers from it, which a connected client (one that accepts datagrams
// only from the address it sent to) requires. Includes the dual-stack case the server does not
// use today (it sets IPV6_V6ONLY), where IPv4 queries arrive with v4-mapped IPV6_PKTINFO.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "resolver/transport/udp.h"
#include "resolver/transport/udp_pktinfo.h"

using namespace sekisho;

namespace {

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) { REQUIRE(fd >= 0); }
  ~Fd() { ::close(fd); }
};

// A wildcard server socket of `family` on a kernel-chosen port; `v6only` only for AF_INET6.
int wildcard_server(int family, bool v6only, uint16_t& port) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *a;
  } else {
    int flag = v6only ? 1 : 0;
    REQUIRE(::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &flag, sizeof flag) == 0);
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    len = sizeof *a;
  }
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
  port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

// A client socket connected to 127.0.0.x:port: the kernel delivers it only datagrams from there.
int connected_client(const char* ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, ip, &to.sin_addr) == 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

struct Received {
  net::SocketAddress peer;
  net::QueryDestination destination;
  std::string payload;
};

Received receive(int fd, bool with_control = true) {
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  char data[512];
  iovec iov{data, sizeof data};
  net::ControlBuffer control;
  Received r;
  msghdr h{};
  h.msg_name = &r.peer.storage;
  h.msg_namelen = sizeof r.peer.storage;
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  if (with_control) {
    h.msg_control = control.bytes.data();
    h.msg_controllen = control.bytes.size();
  }
  ssize_t n = ::recvmsg(fd, &h, 0);
  REQUIRE(n >= 0);
  r.peer.length = h.msg_namelen;
  r.destination = net::read_destination(h);
  r.payload.assign(data, static_cast<size_t>(n));
  return r;
}

// What the connected client gets within `ms`, or "" when nothing (from the right source) came.
std::string client_reply(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return "";
  char data[512];
  ssize_t n = ::recv(fd, data, sizeof data, MSG_DONTWAIT);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : "";
}

std::string text(const in_addr& a) {
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

std::string text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &a, buf, sizeof buf);
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("udp pktinfo: an IPv4 wildcard socket answers from the address asked, not the default source") {
  uint16_t port = 0;
  Fd server(wildcard_server(AF_INET, false, port));
  REQUIRE(net::request_destinations(server.fd, AF_INET) == 0);
  Fd client(connected_client("127.0.0.2", port));

  // Without a source the kernel answers from 127.0.0.1 and the connected client never sees it:
  // the failure this file guards against.
  REQUIRE(::send(client.fd, "q0", 2, 0) == 2);
  Received plain = receive(server.fd);
  REQUIRE(resolver::send_udp_answer(server.fd, bytes("a0"), plain.peer, net::QueryDestination{}));
  CHECK(client_reply(client.fd, 200) == "");

  REQUIRE(::send(client.fd, "q1", 2, 0) == 2);
  Received r = receive(server.fd);
  CHECK(r.payload == "q1");
  REQUIRE(r.destination.family == AF_INET);
  CHECK(r.destination.from_pktinfo);
  CHECK(text(r.destination.v4) == "127.0.0.2");
  CHECK(r.destination.ifindex != 0);
  REQUIRE(resolver::send_udp_answer(server.fd, bytes("a1"), r.peer, r.destination));
  CHECK(client_reply(client.fd, 2000) == "a1");
}

TEST_CASE("udp pktinfo: a batch of answers through sendmmsg, each from its own query's destination") {
  uint16_t port = 0;
  Fd server(wildcard_server(AF_INET, false, port));
  REQUIRE(net::request_destinations(server.fd, AF_INET) == 0);
  Fd c2(connected_client("127.0.0.2", port));
  Fd c3(connected_client("127.0.0.3", port));
  REQUIRE(::send(c2.fd, "q2", 2, 0) == 2);
  REQUIRE(::send(c3.fd, "q3", 2, 0) == 2);
  Received r[2] = {receive(server.fd), receive(server.fd)};

  mmsghdr out[2] = {};
  iovec iov[2];
  net::ControlBuffer control[2];
  std::string answers[2];
  for (int i = 0; i < 2; ++i) {
    answers[i] = "a" + r[i].payload.substr(1);
    iov[i] = iovec{answers[i].data(), answers[i].size()};
    msghdr& h = out[i].msg_hdr;
    h.msg_name = &r[i].peer.storage;
    h.msg_namelen = r[i].peer.length;
    h.msg_iov = &iov[i];
    h.msg_iovlen = 1;
    net::set_source(h, r[i].destination, control[i]);
    CHECK(h.msg_controllen == CMSG_SPACE(sizeof(in_pktinfo)));
  }
  REQUIRE(::sendmmsg(server.fd, out, 2, 0) == 2);
  CHECK(client_reply(c2.fd, 2000) == "a2");
  CHECK(client_reply(c3.fd, 2000) == "a3");
}

TEST_CASE("udp pktinfo: a dual-stack [::] socket reports IPv4 queries v4-mapped and answers from them") {
  uint16_t port = 0;
  Fd server(wildcard_server(AF_INET6, false, port));
  REQUIRE(net::request_destinations(server.fd, AF_INET6) == 0);
  Fd client(connected_client("127.0.0.3", port));
  REQUIRE(::send(client.fd, "q4", 2, 0) == 2);
  Received r = receive(server.fd);
  REQUIRE(r.destination.family == AF_INET6);
  CHECK(r.destination.from_pktinfo);
  CHECK(text(r.destination.v6) == "::ffff:127.0.0.3");
  REQUIRE(resolver::send_udp_answer(server.fd, bytes("a4"), r.peer, r.destination));
  CHECK(client_reply(client.fd, 2000) == "a4");
}

TEST_CASE("udp pktinfo: an IPv6 wildcard socket reports the destination of a ::1 query") {
  uint16_t port = 0;
  Fd server(wildcard_server(AF_INET6, true, port));
  REQUIRE(net::request_destinations(server.fd, AF_INET6) == 0);
  Fd client(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(port);
  to.sin6_addr = in6addr_loopback;
  REQUIRE(::connect(client.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  REQUIRE(::send(client.fd, "q6", 2, 0) == 2);
  Received r = receive(server.fd);
  REQUIRE(r.destination.family == AF_INET6);
  CHECK(text(r.destination.v6) == "::1");
  net::ControlBuffer control;
  msghdr h{};
  net::set_source(h, r.destination, control);
  REQUIRE(h.msg_controllen == CMSG_SPACE(sizeof(in6_pktinfo)));
  in6_pktinfo info;
  std::memcpy(&info, CMSG_DATA(CMSG_FIRSTHDR(&h)), sizeof info);
  CHECK(info.ipi6_ifindex == 0);  // not link-local: routing chooses the interface
  REQUIRE(resolver::send_udp_answer(server.fd, bytes("a6"), r.peer, r.destination));
  CHECK(client_reply(client.fd, 2000) == "a6");
}

TEST_CASE("udp pktinfo: nothing reported, or a socket bound to one address, means no control message") {
  uint16_t port = 0;
  Fd server(wildcard_server(AF_INET, false, port));  // not asked for destinations
  Fd client(connected_client("127.0.0.1", port));
  REQUIRE(::send(client.fd, "q7", 2, 0) == 2);
  Received r = receive(server.fd);
  CHECK(r.destination.family == AF_UNSPEC);
  CHECK_FALSE(r.destination.from_pktinfo);

  std::string why;
  auto bound = net::parse_socket_address("127.0.0.9:53", 53, why);
  REQUIRE(bound);
  net::QueryDestination fixed = net::fixed_destination(*bound);
  CHECK(fixed.family == AF_INET);
  CHECK(text(fixed.v4) == "127.0.0.9");
  CHECK_FALSE(fixed.from_pktinfo);
  net::ControlBuffer control;
  msghdr h{};
  net::set_source(h, fixed, control);
  CHECK(h.msg_control == nullptr);
  CHECK(h.msg_controllen == 0);

  msghdr truncated{};
  truncated.msg_flags = MSG_CTRUNC;
  CHECK(net::read_destination(truncated).family == AF_UNSPEC);
}

TEST_CASE("udp pktinfo: wildcard addresses") {
  std::string why;
  CHECK(net::is_wildcard(*net::parse_socket_address("0.0.0.0:53", 53, why)));
  CHECK(net::is_wildcard(*net::parse_socket_address("[::]:53", 53, why)));
  CHECK_FALSE(net::is_wildcard(*net::parse_socket_address("127.0.0.1:53", 53, why)));
  CHECK_FALSE(net::is_wildcard(*net::parse_socket_address("[::1]:53", 53, why)));
}
