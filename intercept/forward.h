// Deep inspection, allowed URLs: the request goes on to the real origin. The origin's address is
// resolved through the configured upstreams (sekishod's, without its filtering), never a
// loopback, private, link-local or otherwise non-public address unless intercept.allow_private
// covers it, and TLS is verified against the trust store (intercept.origin_ca_file, else the
// system's) with the host name checked.
//
// HTTP/1.1 to the origin, one connection per request (Connection: close); request and response
// bodies are buffered up to intercept.max_body_bytes, not streamed. Blocking sockets with
// timeouts on a small pool of threads; results return to the loop thread (uv_async), which alone
// touches the Exchange.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

#include "admin/config/settings.h"
#include "resolver/net/http/server.h"

namespace sekisho::intercept {

struct ForwardOptions {
  std::vector<config::UpstreamSettings> upstreams;
  std::vector<config::NetworkSettings> allow_private;
  std::string origin_ca_file;  // empty: the system trust store
  uint16_t https_port = 443;   // where origins are reached (tests point it at a local origin)
  uint16_t http_port = 80;
  uint32_t timeout_ms = 10000;
  uint32_t max_body_bytes = 64 * 1024 * 1024;
  unsigned threads = 4;
  size_t max_queued = 256;  // more waiting requests get 503 at once
};

// True when `addr` (4 or 16 bytes) is not a public unicast address: loopback, RFC 1918, CGNAT,
// link-local, unique-local, multicast, unspecified, documentation ranges.
bool non_public_address(int family, const uint8_t* addr);

class Forwarder {
 public:
  // Throws std::runtime_error when the trust store cannot be loaded.
  Forwarder(uv_loop_t* loop, ForwardOptions options);
  ~Forwarder();  // joins the workers; call on the loop thread

  // Forwards exchange's request to https?://host (answer delivered on the loop thread).
  void forward(std::shared_ptr<net::http::Exchange> exchange, std::string host, bool tls);

  struct Job;

 private:
  void work();
  static void on_async(uv_async_t* a);

  ForwardOptions options_;
  SSL_CTX* ssl_ctx_ = nullptr;
  uv_async_t async_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_, done_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace sekisho::intercept
