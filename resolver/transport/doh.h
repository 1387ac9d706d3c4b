// DNS over HTTPS (RFC 8484) as a handler on the loop's HTTP server (net/http/server.h):
//   /dns-query            tenant by the client's source address, like plain DNS
//   /dns-query/{token}    the tenant of the device with that token (unknown token → 404)
// GET ?dns=<base64url, no padding> or POST with content-type application/dns-message.
// The message then goes through the same pipeline as UDP/TCP (policies, EDE, cache, query log);
// the answer is 200 application/dns-message with Cache-Control: max-age = its smallest TTL.
// Errors are HTTP statuses with a one-line reason in the body: 400 missing/undecodable `dns`
// or a message that is not a DNS query, 404 unknown path or token, 405 other methods (Allow:
// GET, POST), 413 body over 65535 bytes (from the server's limits), 415 other content types.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "config/settings.h"
#include "net/http/server.h"

namespace sekisho::resolver {

class Worker;

// The http::Handler of a loop's DoH listeners.
void handle_doh(Worker& w, std::shared_ptr<net::http::Exchange> exchange);

// Sends a DNS answer (now, or late from Worker::deliver); an empty answer is a 502.
void respond_doh(Worker& w, net::http::Exchange& exchange, std::span<const uint8_t> answer);

// The HTTP limits DoH listeners run with.
net::http::Limits doh_limits(const config::Settings& settings);

// Smallest TTL of the records in a DNS message (OPT excluded); nullopt when it has none or is
// malformed. Exposed for tests.
std::optional<uint32_t> min_ttl(std::span<const uint8_t> message);

}  // namespace sekisho::resolver
