// One TLS server connection driven through memory BIOs, so the socket stays libuv's: the
// transport hands received ciphertext to feed(), pulls plaintext with read(), pushes plaintext
// with write() and sends whatever take_output() returns with uv_write. The handshake happens
// inside read(); a protocol error makes read() return kFailed and the caller closes that one
// connection (error() says why, for a debug log).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/tls/client_context.h"
#include "net/tls/context.h"

namespace sekisho::net::tls {

class Session {
 public:
  // `alpn` is the listener's list; it must outlive the session (listeners keep theirs static).
  Session(const ServerContext& ctx, const AlpnList* alpn);
  // A client connection to `host` (SNI, and the certificate must name it), for
  // sekisho-intercept's origins; `client_ctx` verifies the peer against its trust store.
  Session(SSL_CTX* client_ctx, const std::string& host);
  // The same for a connection to an encrypted upstream: `ctx`'s kept session is offered.
  Session(const ClientContext& ctx, const std::string& host);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  static constexpr long kWantMore = 0;   // read(): needs more ciphertext
  static constexpr long kFailed = -1;    // read(): handshake or record error; close
  static constexpr long kClosed = -2;    // read(): the peer sent close_notify

  // Queues received ciphertext (copied into the read BIO).
  void feed(std::span<const uint8_t> cipher);
  // Runs the handshake and decrypts into `buf`; returns bytes, kWantMore, kFailed or kClosed.
  long read(uint8_t* buf, size_t cap);
  bool handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }
  // Encrypts `plain` into the output (only after the handshake). False on failure.
  bool write(std::span<const uint8_t> plain);
  // Queues close_notify.
  void shutdown();
  // Appends the ciphertext waiting to be sent (handshake records, alerts, data) to `out`.
  void take_output(std::string& out);
  bool has_output() const { return BIO_ctrl_pending(wbio_) > 0; }
  // Received ciphertext not yet turned into plaintext: part of a record (or records not yet
  // read). A transport's per-message deadline runs while it is there.
  bool has_input() const { return BIO_ctrl_pending(rbio_) > 0 || SSL_has_pending(ssl_) == 1; }

  // Client: the handshake resumed an earlier session (no certificate exchanged).
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }

  // Negotiated ALPN id, empty when the client offered none (or none we support).
  std::string_view alpn() const;
  // SNI, lower-cased; empty when the client sent none.
  std::string server_name() const;
  const std::string& error() const { return error_; }
  // Client: why the peer's certificate was not accepted; empty when it was (or not yet checked).
  std::string verify_error() const;

  const AlpnList* offered() const { return alpn_; }
  // The client's address, for certificate selectors (context.h); set by the transport.
  void set_peer(const SocketAddress& peer) { peer_ = peer; }
  const SocketAddress& peer() const { return peer_; }

 private:
  void set_error(const char* what, int ssl_error);
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  const AlpnList* alpn_;
  std::string error_;
  SocketAddress peer_;
};

}  // namespace sekisho::net::tls
