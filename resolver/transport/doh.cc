#include "resolver/transport/doh.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "base/base64url.h"
#include "base/text.h"
#include "dns/wire.h"
#include "resolver/pipeline.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {

constexpr std::string_view kPath = "/dns-query";
constexpr std::string_view kMediaType = "application/dns-message";

void reject(Worker& w, net::http::Exchange& ex, int status, std::string_view reason) {
  ++w.counters().doh_rejected;
  net::http::Response r;
  r.status = status;
  r.set("content-type", "text/plain; charset=utf-8");
  if (status == 405) r.set("allow", "GET, POST");
  r.body.assign(reason);
  r.body += '\n';
  ex.respond(std::move(r));
}

// "application/dns-message" with optional parameters ("; charset=…" is meaningless but harmless).
bool is_dns_message_type(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view type = content_type.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return base::equals_ignoring_case(type, kMediaType);
}

}  // namespace

std::optional<uint32_t> min_ttl(std::span<const uint8_t> msg) {
  if (msg.size() < dns::kHeaderSize) return std::nullopt;
  const dns::Header h = dns::read_header(msg);
  size_t pos = dns::kHeaderSize;
  for (uint16_t i = 0; i < h.qdcount; ++i) {
    if (!dns::skip_name(msg, pos) || pos + 4 > msg.size()) return std::nullopt;
    pos += 4;
  }
  std::optional<uint32_t> lowest;
  const uint32_t records = uint32_t{h.ancount} + h.nscount + h.arcount;
  for (uint32_t i = 0; i < records; ++i) {
    dns::RecordView rr;
    if (!dns::walk_record(msg, pos, rr)) return std::nullopt;
    if (rr.type == 41) continue;  // OPT: its "TTL" holds flags
    if (!lowest || rr.ttl < *lowest) lowest = rr.ttl;
  }
  return lowest;
}

net::http::Limits doh_limits(const config::Settings& settings) {
  net::http::Limits l;
  l.max_body_bytes = 65535;  // RFC 8484 §6: a DNS message over HTTP is at most 65535 bytes
  l.max_connections = settings.server.tcp.max_connections;
  l.idle_timeout_ms = std::max<uint32_t>(settings.server.tcp.idle_timeout_ms, 1000);
  l.max_streams = settings.server.tcp.max_pipelined;
  l.max_per_address = settings.server.tcp.max_connections_per_address;  // the table is the engine's (Worker)
  return l;
}

void respond_doh(Worker& w, net::http::Exchange& ex, std::span<const uint8_t> answer) {
  if (answer.empty()) return reject(w, ex, 502, "no answer could be produced for this query");
  net::http::Response r;
  r.set("content-type", std::string(kMediaType));
  // RFC 8484 §5.1: fresh no longer than the smallest TTL of the answer.
  r.set("cache-control", "max-age=" + std::to_string(min_ttl(answer).value_or(0)));
  r.body.assign(reinterpret_cast<const char*>(answer.data()), answer.size());
  ex.respond(std::move(r));
}

void handle_doh(Worker& w, std::shared_ptr<net::http::Exchange> ex) {
  BatchScope batch(w);  // the Runtime the token is resolved against is the one the query runs under
  const net::http::Request& req = ex->request();
  std::string_view path = req.path;
  std::string_view token;
  if (path.substr(0, kPath.size()) != kPath) return reject(w, *ex, 404, "unknown path; DoH is served at /dns-query");
  path.remove_prefix(kPath.size());
  if (!path.empty()) {
    if (path[0] != '/' || path.size() == 1 || path.find('/', 1) != std::string_view::npos)
      return reject(w, *ex, 404, "unknown path; DoH is served at /dns-query and /dns-query/{device token}");
    token = path.substr(1);
  }
  Origin origin;
  origin.transport = Transport::doh;
  origin.peer = req.peer;
  if (!token.empty()) {
    const Runtime& rt = *w.runtime();
    const policy::DeviceRef* device = rt.policies->find_device(token);
    if (!device) return reject(w, *ex, 404, "unknown device token");
    origin.device = {OriginDevice::State::known, *device, rt.generation};
  }
  if (req.method != "GET" && req.method != "POST")
    return reject(w, *ex, 405, "method not allowed; use GET with ?dns= or POST application/dns-message");

  std::string decoded;
  std::span<const uint8_t> msg;
  if (req.method == "GET") {
    const std::string_view param = req.query_param("dns");
    if (param.empty()) return reject(w, *ex, 400, "missing dns parameter");
    if (!base::base64url_decode(param, decoded))
      return reject(w, *ex, 400, "dns parameter is not base64url without padding");
    msg = {reinterpret_cast<const uint8_t*>(decoded.data()), decoded.size()};
  } else {
    if (!is_dns_message_type(req.header("content-type")))
      return reject(w, *ex, 415, "content-type must be application/dns-message");
    msg = {reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()};
  }
  if (msg.size() < dns::kHeaderSize) return reject(w, *ex, 400, "not a DNS message (shorter than its header)");
  if (dns::read_header(msg).qr()) return reject(w, *ex, 400, "not a DNS query (QR is set)");

  origin.doh_slot = w.park_doh(ex, origin.doh_serial);
  std::span<uint8_t> out = w.scratch();
  size_t out_len = 0;
  const Step step = run_query(w, msg, origin, out, out_len);
  if (step == Step::pending) return;  // Worker::deliver answers it
  w.take_doh(origin.doh_slot, origin.doh_serial);
  if (step == Step::answered) return respond_doh(w, *ex, out.first(out_len));
  reject(w, *ex, 503, "query dropped: the server is overloaded or the message cannot be answered");
}

}  // namespace sekisho::resolver
