// Reused, pipelined TCP connections to the upstreams, one pool per loop (RFC 7766 §6.2.1), in
// clear or as DNS over TLS (RFC 7858: the same frames inside TLS records, `transport: tls`).
//
// Per upstream address the pool keeps up to `forwarding.tcp_connections_per_upstream`
// connections open. A query goes on an idle one, else on a new one while under the limit, else
// pipelined on the least busy one; answers may come in any order and are matched to their query
// by ID and question. A connection with nothing in flight closes after `tcp_idle_timeout_ms`.
//
// A query whose attempt times out on a connection that has answered nothing since the query
// was sent retires that connection: it takes no new queries and closes once the queries on it
// are done, so the retry does not queue behind a server that stopped reading (RFC 7766 §6.2.2
// lets a client close a connection it no longer trusts).
//
// When the upstream closes a connection with queries still on it, those queries are sent again
// on another connection — once each, unless the closing connection answered something first
// (an upstream that closes after every answer still makes progress). Everything else (refused,
// reset, a stream that is not DNS) reports network_error to the queries, and the forwarder
// fails over as with any other attempt. The resend stays inside the attempt's own timeout.
//
// DNS over TLS: a connection is opened with the upstream's TlsTarget (exchange.h); queries wait
// on it until the handshake is done and then go out together, and from then on as for TCP (TLS
// writes through memory BIOs, net/tls/session.h: nothing blocks). A handshake or record that
// fails (certificate refused, wrong name, pin mismatch) fails the attempts on that connection
// with the reason, counted as tls_failures, and they are not re-sent on it: the forwarder's
// failover and health marking take over, as for any network error. A new connection offers the
// last session ticket of its upstream (TLS resumption: no certificate exchange).
//
// Threading: touched only from its loop. Idle connections do not keep the loop running
// (uv_unref): a query in flight has its own timer that does.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "resolver/counters.h"
#include "resolver/upstream/exchange.h"

namespace sekisho::upstream {

class TcpPool {
 public:
  // The defaults of config::ForwardingSettings (tcp_pool.cc checks they agree).
  static constexpr size_t kMaxConnectionsPerUpstream = 4;
  static constexpr uint64_t kIdleTimeoutMs = 10000;

  explicit TcpPool(uv_loop_t* loop, uint64_t idle_timeout_ms = kIdleTimeoutMs)
      : loop_(loop), idle_timeout_ms_(idle_timeout_ms) {}

  // From the configuration in use; a reload lowering the limit leaves the extra connections to
  // their idle timeout, and a new idle timeout applies from each connection's next idle start.
  void set_limits(size_t connections_per_upstream, uint64_t idle_timeout_ms) {
    max_per_upstream_ = connections_per_upstream;
    idle_timeout_ms_ = idle_timeout_ms;
  }
  // Frees the connections without closing their handles: for a pool that goes away with its loop
  // (the engine's). A pool whose loop runs on calls close_all() first.
  ~TcpPool();
  TcpPool(const TcpPool&) = delete;
  TcpPool& operator=(const TcpPool&) = delete;

  // Same contract as start_tcp_exchange (exchange.h).
  Exchange* start(const ExchangeRequest& request, int& error);

  // Closes every connection; their handles finish closing on the loop's next turn, touching the
  // pool no more. Queries still on them fail with ECANCELED: cancel the exchanges first.
  void close_all();

  // What the pool counts (resolver/counters.h), over all its servers.
  struct Counters {
    SEKISHO_UPSTREAM_TCP_COUNTERS(SEKISHO_COUNTER_FIELD)
  };
  const Counters& counters() const { return counters_; }
  size_t open_connections() const { return connections_.size() + retiring_.size(); }

  // The same per upstream address, for /metrics, read from another thread. Slots are claimed in
  // order and never move: a slot's address is written before the release store of the count that
  // publishes it, and its counters are written by this loop only (base/counter.h). Addresses
  // beyond kMaxCountedServers (many reloads) go uncounted.
  struct ServerCounters : Counters {
    net::SocketAddress server;
  };
  static constexpr size_t kMaxCountedServers = 64;
  size_t counted_servers() const { return counted_servers_.load(std::memory_order_acquire); }
  const ServerCounters& server_counters(size_t i) const { return server_counters_[i]; }

  class Connection;  // tcp_pool.cc
  class Query;

 private:
  friend class Connection;
  friend class Query;
  // Puts q on a connection to its server; `avoid` is one that is closing. Returns 0 or an errno.
  int dispatch(Query* q, const Connection* avoid);
  void retire(Connection* c);  // c stops taking queries; it closes when its last query is done
  void forget(Connection* c);  // c is closing
  ServerCounters* counters_for(const net::SocketAddress& server);  // nullptr once all slots are taken

  uv_loop_t* loop_;
  uint64_t idle_timeout_ms_;
  size_t max_per_upstream_ = kMaxConnectionsPerUpstream;
  std::vector<Connection*> connections_;  // open or connecting, all upstreams, taking queries
  std::vector<Connection*> retiring_;     // open, finishing the queries on them
  Counters counters_;
  std::array<ServerCounters, kMaxCountedServers> server_counters_{};
  std::atomic<size_t> counted_servers_{0};
};

}  // namespace sekisho::upstream
