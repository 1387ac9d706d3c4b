#include "net/tls/session.h"

#include <openssl/err.h>

#include "base/text.h"

namespace sekisho::net::tls {

Session::Session(const ServerContext& ctx, const AlpnList* alpn) : alpn_(alpn) {
  ssl_ = SSL_new(ctx.native());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  // An empty read BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_app_data(ssl_, this);  // the ALPN callback reads this listener's list
  SSL_set_accept_state(ssl_);
}

Session::Session(SSL_CTX* client_ctx, const std::string& host) : alpn_(nullptr) {
  ssl_ = SSL_new(client_ctx);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_app_data(ssl_, this);
  SSL_set_tlsext_host_name(ssl_, host.c_str());
  SSL_set1_host(ssl_, host.c_str());
  SSL_set_connect_state(ssl_);
}

Session::Session(const ClientContext& ctx, const std::string& host) : Session(ctx.native(), host) {
  ctx.offer_session(ssl_);
}

Session::~Session() { SSL_free(ssl_); }

std::string Session::verify_error() const {
  const long v = SSL_get_verify_result(ssl_);
  if (v == X509_V_ERR_APPLICATION_VERIFICATION) return "the certificate's public key does not match the pin";
  return v == X509_V_OK ? std::string() : X509_verify_cert_error_string(v);
}

void Session::feed(std::span<const uint8_t> cipher) {
  if (!cipher.empty()) BIO_write(rbio_, cipher.data(), static_cast<int>(cipher.size()));
}

void Session::set_error(const char* what, int ssl_error) {
  error_ = what;
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    error_ += ": ";
    error_ += buf;
  } else {
    error_ += ": SSL error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
}

long Session::read(uint8_t* buf, size_t cap) {
  // OpenSSL's error queue is per thread; a stale entry must not be blamed on this connection.
  ERR_clear_error();
  const int n = SSL_read(ssl_, buf, static_cast<int>(cap));
  if (n > 0) return n;
  const int err = SSL_get_error(ssl_, n);
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return kWantMore;
    case SSL_ERROR_ZERO_RETURN: return kClosed;
    default:
      set_error(handshake_done() ? "TLS record error" : "TLS handshake failed", err);
      return kFailed;
  }
}

bool Session::write(std::span<const uint8_t> plain) {
  if (plain.empty()) return true;
  ERR_clear_error();
  const int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  if (n == static_cast<int>(plain.size())) return true;  // memory BIOs never write partially
  set_error("TLS write failed", SSL_get_error(ssl_, n));
  return false;
}

void Session::shutdown() {
  ERR_clear_error();
  if (handshake_done()) SSL_shutdown(ssl_);
  ERR_clear_error();
}

void Session::take_output(std::string& out) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(wbio_, &data);
  if (n <= 0) return;
  out.append(data, static_cast<size_t>(n));
  (void)BIO_reset(wbio_);
}

std::string_view Session::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view{};
}

std::string Session::server_name() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? base::ascii_lower(name) : std::string();
}

}  // namespace sekisho::net::tls
