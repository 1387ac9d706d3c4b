#include "net/tls/client_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstring>

#include "base/openssl_util.h"

namespace sekisho::net::tls {

std::string spki_sha256(X509* cert) {
  unsigned char* der = nullptr;
  const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (n <= 0) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(der, static_cast<size_t>(n), digest, &length, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::shared_ptr<ClientContext> ClientContext::make(const ClientOptions& options, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    error = "cannot create a TLS client context: " + base::openssl_errors();
    return nullptr;
  }
  std::shared_ptr<ClientContext> out(new ClientContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_app_data(ctx, out.get());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.spki_sha256.empty()) {
    out->pin_ = options.spki_sha256;
    SSL_CTX_set_cert_verify_callback(ctx, &ClientContext::verify_pin, out.get());
  } else {
    const int ok = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                           : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    if (ok != 1) {
      error = (options.ca_file.empty() ? std::string("the system trust store") : "ca_file " + options.ca_file) +
              ": " + base::openssl_errors();
      return nullptr;
    }
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& id : options.alpn) {
      wire.push_back(static_cast<char>(id.size()));
      wire += id;
    }
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  // Client-side cache only through the callback: OpenSSL keeps no list of its own.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &ClientContext::on_new_session);
  return out;
}

ClientContext::~ClientContext() {
  // Connections made from the bare SSL_CTX (native()) may outlive this object: their session
  // tickets find no context to keep them in.
  SSL_CTX_set_app_data(ctx_, nullptr);
  if (session_) SSL_SESSION_free(session_);
  SSL_CTX_free(ctx_);  // connections still open hold their own reference
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self) return 0;
  std::lock_guard lock(self->mutex_);
  if (self->session_) SSL_SESSION_free(self->session_);
  self->session_ = session;
  return 1;  // we keep the reference OpenSSL handed us
}

bool ClientContext::offer_session(SSL* ssl) const {
  std::lock_guard lock(mutex_);
  if (!session_ || SSL_SESSION_is_resumable(session_) != 1) return false;
  return SSL_set_session(ssl, session_) == 1;
}

// Replaces chain verification when a pin is set (see the header): the leaf's key decides.
int ClientContext::verify_pin(X509_STORE_CTX* store, void* arg) {
  auto* self = static_cast<const ClientContext*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  const std::string digest = leaf ? spki_sha256(leaf) : std::string();
  if (!digest.empty() && digest.size() == self->pin_.size() &&
      CRYPTO_memcmp(digest.data(), self->pin_.data(), digest.size()) == 0)
    return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace sekisho::net::tls
