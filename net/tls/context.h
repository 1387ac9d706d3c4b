// TLS server contexts (OpenSSL): a certificate chain and key from PEM files, TLS 1.2 and newer,
// ALPN chosen from the list of the listener a connection came in on (see Session), and a slot
// that hands the current context to new connections while a reload swaps in the next one.
//
// Reload model: a context is immutable once built. SIGHUP builds a new one from the files; if
// that fails the slot keeps the old one. Connections hold their SSL*, which holds its SSL_CTX,
// so an old context lives exactly as long as its last connection.
#pragma once

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.h"

namespace sekisho::net::tls {

// ALPN protocol ids a listener offers, most preferred first: {"h2", "http/1.1"}, {"dot"}.
using AlpnList = std::vector<std::string>;

// Chooses one connection's certificate from its SNI and client address during the handshake
// (sekisho-intercept mints one per blocked name), on the connection's loop thread: it calls
// SSL_use_certificate / SSL_use_PrivateKey on `ssl`. Returning false ends the handshake with an
// unrecognized_name alert.
using CertificateSelector = std::function<bool(SSL* ssl, std::string_view server_name, const SocketAddress& peer)>;

class ServerContext {
 public:
  // A context without a certificate of its own: every connection's comes from `selector`.
  static std::shared_ptr<const ServerContext> with_selector(CertificateSelector selector, std::string& error);
  // Builds a context from PEM files. Returns null with `error` naming the file and OpenSSL's
  // reason (missing file, bad PEM, key not matching the certificate).
  static std::shared_ptr<const ServerContext> load(const std::string& cert_path, const std::string& key_path,
                                                   std::string& error);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  const CertificateSelector& selector() const { return selector_; }
  // "CN=dns.test, not after 2027-01-01" style text for logs.
  const std::string& description() const { return description_; }

 private:
  explicit ServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  std::string description_;
  CertificateSelector selector_;
};

// The context new connections get. Thread-safe: loops read it at accept time, the control
// thread replaces it on reload.
class ContextSlot {
 public:
  std::shared_ptr<const ServerContext> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const ServerContext> ctx) {
    std::lock_guard lock(mutex_);
    current_ = std::move(ctx);
  }
  // Loads the files into a new context and installs it; on failure keeps the old one and
  // returns false with `error` set.
  bool reload(const std::string& cert_path, const std::string& key_path, std::string& error);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ServerContext> current_;
};

}  // namespace sekisho::net::tls
