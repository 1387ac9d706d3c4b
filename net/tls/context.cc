#include "net/tls/context.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstring>

#include "net/tls/session.h"

namespace sekisho::net::tls {
namespace {

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Picks the listener's most preferred protocol that the client offered. No overlap is not
// fatal: the connection goes on without ALPN (dnsperf's DoT offers none at all).
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  auto* session = static_cast<const Session*>(SSL_get_app_data(ssl));
  if (!session || !session->offered()) return SSL_TLSEXT_ERR_NOACK;
  for (const std::string& ours : *session->offered()) {
    for (unsigned int i = 0; i < inlen;) {
      const unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == ours.size() && std::memcmp(in + i + 1, ours.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string describe(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return {};
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  std::string out = subject;
  BIO* b = BIO_new(BIO_s_mem());
  if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    out += ", not after ";
    out.append(data, static_cast<size_t>(n));
  }
  BIO_free(b);
  return out;
}

// A server context with the settings every sekisho TLS listener shares (TLS 1.2 at least, no
// renegotiation, ALPN); null with `error` set when OpenSSL cannot make one.
SSL_CTX* new_server_ctx(std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "cannot create TLS context: " + openssl_reason();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their record buffers back; a resolver holds many mostly idle ones.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);
  return ctx;
}

}  // namespace

std::shared_ptr<const ServerContext> ServerContext::load(const std::string& cert_path, const std::string& key_path,
                                                         std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = new_server_ctx(error);
  if (!ctx) return nullptr;
  std::shared_ptr<ServerContext> out(new ServerContext(ctx));
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    error = "tls.cert " + cert_path + ": " + openssl_reason();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "tls.key " + key_path + ": " + openssl_reason();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "tls.key " + key_path + " does not match tls.cert " + cert_path + ": " + openssl_reason();
    return nullptr;
  }
  out->description_ = describe(ctx);
  return out;
}

namespace {
// SNI callback of with_selector() contexts; the Session (app data) knows the client address.
int select_certificate(SSL* ssl, int* alert, void* arg) {
  auto* ctx = static_cast<const ServerContext*>(arg);
  auto* session = static_cast<const Session*>(SSL_get_app_data(ssl));
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!session || !name || !ctx->selector()(ssl, name, session->peer())) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}
}  // namespace

std::shared_ptr<const ServerContext> ServerContext::with_selector(CertificateSelector selector, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = new_server_ctx(error);
  if (!ctx) return nullptr;
  std::shared_ptr<ServerContext> out(new ServerContext(ctx));
  out->selector_ = std::move(selector);
  SSL_CTX_set_tlsext_servername_callback(ctx, &select_certificate);
  SSL_CTX_set_tlsext_servername_arg(ctx, out.get());
  out->description_ = "certificate per SNI";
  return out;
}

ServerContext::~ServerContext() { SSL_CTX_free(ctx_); }

bool ContextSlot::reload(const std::string& cert_path, const std::string& key_path, std::string& error) {
  auto fresh = ServerContext::load(cert_path, key_path, error);
  if (!fresh) return false;
  set(std::move(fresh));
  return true;
}

}  // namespace sekisho::net::tls
