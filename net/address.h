// Socket addresses as users write them: "127.0.0.1:5353", "[::1]:5353", "::1", "192.0.2.1".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sekisho::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:53" / "[::1]:53"
  bool operator==(const SocketAddress& other) const;
};

// Parses host:port with a literal IPv4 or bracketed IPv6 host; a bare address takes
// `default_port`. Returns nullopt with `error` set when the text is not such an address.
std::optional<SocketAddress> parse_socket_address(std::string_view text, uint16_t default_port, std::string& error);

SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);

// 0.0.0.0 or [::]: listening on every local address.
bool is_wildcard(const SocketAddress& a);

// 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: reachable from this host only.
bool is_loopback(const SocketAddress& a);

}  // namespace sekisho::net
