// TLS client contexts for connections we open ourselves (encrypted upstreams, RFC 7858 and
// RFC 8484; sekisho-intercept's origins): what the peer's certificate is checked against, the
// ALPN offered, and the session kept for resumption.
//
// Verification: without a pin, the chain must lead to a trust anchor of `ca_file` (else the
// system store) and the leaf must carry the connection's name (Session sets it: SNI and
// X509_VERIFY_PARAM host). With a pin (`spki_sha256`, RFC 7469's pin-sha256), the pin decides:
// the leaf's SubjectPublicKeyInfo must hash to it, and chain and name are not checked (a
// self-signed upstream can be pinned). Only the leaf is compared: its key is the one the
// handshake proves the peer holds, whereas any certificate further up an unverified chain could be
// copied by anyone.
//
// Resumption: the newest session ticket the server sent is kept (one per context, behind a
// mutex: touched once per handshake, never per query) and offered by the next connection.
//
// Threading: one context is shared by every loop; SSL_CTX is safe for that once built.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>

#include "net/tls/context.h"

namespace sekisho::net::tls {

struct ClientOptions {
  std::string ca_file;      // PEM trust anchors; empty = the system store
  std::string spki_sha256;  // 32 bytes, or empty for no pin
  AlpnList alpn;            // offered, most preferred first; empty = no ALPN
};

class ClientContext {
 public:
  // Null with `error` set when the trust store cannot be loaded.
  static std::shared_ptr<ClientContext> make(const ClientOptions& options, std::string& error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  // Offers the kept session on `ssl` (before its handshake); true when there was one.
  bool offer_session(SSL* ssl) const;

 private:
  explicit ClientContext(SSL_CTX* ctx) : ctx_(ctx) {}
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  static int verify_pin(X509_STORE_CTX* store, void* arg);

  SSL_CTX* ctx_;
  std::string pin_;
  mutable std::mutex mutex_;
  SSL_SESSION* session_ = nullptr;  // guarded by mutex_
};

// The base64 RFC 7469 pin of a certificate's public key: SHA-256 over its DER
// SubjectPublicKeyInfo (raw 32 bytes here).
std::string spki_sha256(X509* cert);

}  // namespace sekisho::net::tls
