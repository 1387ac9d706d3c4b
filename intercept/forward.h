// Deep inspection, allowed URLs: the request goes on to the real origin, streamed both ways.
//
// - Where: origin_address.h resolves the host through the configured upstreams (on this loop,
//   by resolver/upstream/client.h under the `forwarding` settings) and keeps only public
//   addresses (or those intercept.allow_private covers); answers are cached for their TTL (at
//   most 5 minutes). IPv4 addresses are tried first, then IPv6.
// - How: HTTP/1.1 to the origin over TLS verified against intercept.origin_ca_file or the
//   system trust store, host name checked (origin.h). Idle origin connections are kept per
//   (host, port, TLS) and reused only for an address the host still resolves to. Responses are
//   read by the server's strict parser (net/http/http1_parser.h): untrustworthy framing is a 502.
// - Streaming: the request body goes to the origin as it arrives (Content-Length kept; chunked
//   or HTTP/2 bodies of unknown length are sent chunked) and is acknowledged to the client only
//   once written, so a slow origin slows the upload; the response body goes to the client as
//   it arrives, and reading from the origin stops while the client has more than
//   net::http::kHighWater unsent. Memory per request stays at a few hundred KiB whatever the
//   body sizes.
// - WebSocket (HTTP/1.1 Upgrade): after the origin's 101 the bytes are spliced both ways until
//   either side closes.
// - Bytes: every byte each way is counted for the client's tenant and the destination host
//   (traffic.h); a tenant over its bandwidth limit has its relays paused — origin reads stopped,
//   upload acknowledgements held — and resumed by one timer (kBandwidthTickMs) once its bucket
//   is even: slowed, never cut.
// Everything runs on the loop thread, the DNS lookups included.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "config/settings.h"
#include "intercept/origin.h"
#include "intercept/origin_address.h"
#include "intercept/status.h"
#include "intercept/traffic.h"
#include "net/http/server.h"
#include "net/tls/client_context.h"

namespace sekisho::intercept {

struct ForwardOptions {
  std::vector<config::UpstreamSettings> upstreams;
  config::ForwardingSettings forwarding;  // how the upstreams are asked (timeout, attempts, TCP)
  std::vector<config::NetworkSettings> allow_private;
  std::string origin_ca_file;  // empty: the system trust store
  uint16_t https_port = 443;   // where origins are reached (tests point it at a local origin)
  uint16_t http_port = 80;
  uint32_t timeout_ms = 10000;          // connect, and the origin silent while we wait for it
  uint32_t idle_ms = 30000;             // pooled origin connections
  uint32_t max_header_bytes = 64 * 1024;  // the origin's response head
  uint32_t tunnel_idle_ms = 300000;     // WebSocket with nothing either way; a client not reading at all
};

struct ForwardCounters {
  uint64_t requests = 0;
  uint64_t connections = 0;  // origin connections opened
  uint64_t reused = 0;       // requests sent on a pooled connection
};

class Forwarder {
 public:
  static constexpr uint32_t kBandwidthTickMs = 10;  // how often paused relays are looked at

  // Throws std::runtime_error when the trust store cannot be loaded. `counters` (the process's,
  // status.h) outlives the forwarder.
  Forwarder(uv_loop_t* loop, ForwardOptions options, InterceptCounters& counters);
  ~Forwarder();  // on the loop thread: pooled connections close, requests in flight are cut

  // Forwards exchange's request (a streaming exchange: net::http::Limits::streaming) to
  // https?://host for a client of `tenant` (its id); the response streams back through the
  // exchange.
  void forward(std::shared_ptr<net::http::Exchange> exchange, std::string host, bool tls, std::string tenant);
  const ForwardCounters& counters() const { return counters_; }
  TrafficMeter& traffic() { return traffic_; }

  struct Relay;

 private:
  friend struct Relay;
  void hold(const std::shared_ptr<Relay>& relay);  // paused for its tenant's limit until the tick frees it
  static void on_bandwidth_tick(uv_timer_t* timer);

  uv_loop_t* loop_;
  ForwardOptions options_;
  std::shared_ptr<net::tls::ClientContext> origin_tls_;  // connections still closing hold their SSL_CTX
  OriginPool pool_;
  OriginResolver origins_;
  std::set<std::shared_ptr<Relay>> relays_;
  ForwardCounters counters_;
  InterceptCounters& totals_;
  TrafficMeter traffic_;
  std::vector<std::weak_ptr<Relay>> held_;  // paused for bandwidth
  uv_timer_t* tick_ = nullptr;              // owned; closed (and freed) by the destructor
};

}  // namespace sekisho::intercept
