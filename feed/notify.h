// feed/notify.h — the NOTIFY listener (RFC 1996): UDP and TCP on feed_service.notify_listen.
//
// A NOTIFY (opcode 4, QTYPE SOA) for a feed's zone is answered and makes that feed refresh at
// once, when it comes from the feed's primary (its IP address; the source port is the
// primary's choice) and, for a feed with a TSIG key, is signed with that key (the answer is
// then signed too, RFC 8945 §5.3). Anything else is refused (REFUSED: not our zone, not our
// primary; NOTAUTH: unsigned or badly signed) and logged, and never triggers a transfer: a
// forged NOTIFY can at most make us ask the real primary early (RFC 1996 §3.10).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "feed/xfr.h"
#include "net/address.h"

namespace sekisho::feed {

struct NotifyTarget {
  std::string zone;               // lower case, final dot
  net::SocketAddress primary;     // only its address is compared
  const TsigKey* key = nullptr;
};

// Bound sockets on each address, UDP and TCP (Knot sends NOTIFY over TCP, BIND over UDP; RFC
// 1996 §3.1 and RFC 7766 allow both); throws std::runtime_error naming the address that failed.
struct NotifySockets {
  std::vector<int> udp, tcp;
};
NotifySockets open_notify_sockets(const std::vector<net::SocketAddress>& addresses);

// Reads one datagram from `fd` (non-blocking), answers it and returns the index in `targets`
// of the feed to refresh, if any. `why` gets why a message was refused (for the log).
std::optional<size_t> handle_notify_udp(int fd, const std::vector<NotifyTarget>& targets, std::string& why);
// Accepts one connection on `listen_fd`, reads one framed message (2 s at most), answers it.
std::optional<size_t> handle_notify_tcp(int listen_fd, const std::vector<NotifyTarget>& targets, std::string& why);

}  // namespace sekisho::feed
