#include "intercept/service.h"

#include <netinet/in.h>

#include <cstring>

#include "certs/leaf_minter.h"
#include "policy/domain_list.h"
#include "policy/querylog/format.h"
#include "policy/querylog/incident.h"
#include "policy/querylog/record.h"

namespace sekisho::intercept {
namespace {

// A v4-mapped IPv6 peer (a dual-stack listener) is the IPv4 client sekishod saw.
querylog::QueryRecord client_record(const net::SocketAddress& peer) {
  querylog::QueryRecord r;
  if (peer.family() == AF_INET) {
    uint8_t a[4];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in*>(peer.get())->sin_addr, 4);
    querylog::set_client_v4(r, a);
  } else if (peer.family() == AF_INET6) {
    uint8_t a[16];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in6*>(peer.get())->sin6_addr, 16);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) {
      uint8_t v4[4];
      std::memcpy(v4, a + 12, 4);
      querylog::set_client_v4(r, v4);
    } else {
      querylog::set_client_v6(r, a);
    }
  }
  return r;
}

net::http::Response text_response(int status, std::string body) {
  net::http::Response res;
  res.status = status;
  res.set("content-type", "text/plain; charset=utf-8");
  res.set("cache-control", "no-store");
  res.body = std::move(body);
  return res;
}

struct Batch {
  policy::CategoryReader* reader;
  explicit Batch(policy::CategoryReader* r) : reader(r) {
    if (reader && !reader->begin_batch()) reader = nullptr;
  }
  ~Batch() {
    if (reader) reader->end_batch();
  }
};

}  // namespace

std::string incident_for(std::string_view tenant_id, config::LogMode log, const net::SocketAddress& peer,
                         std::string_view name, int64_t time_us) {
  const querylog::QueryRecord r = client_record(peer);
  return querylog::incident_id(tenant_id, querylog::client_text(r, log == config::LogMode::anonymized), name,
                               querylog::utc_minute_of_us(time_us));
}

bool reads_only(const net::http::Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  if (!req.header("upgrade").empty()) return false;
  const std::string_view length = req.header("content-length");
  return req.header("transfer-encoding").empty() && (length.empty() || length == "0") && req.body.empty();
}

std::string normalise_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') return {};  // IPv6 literal: no name to judge
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!certs::valid_host_name(host)) return {};
  std::string out(host);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Decision Service::decide(const State& s, const net::SocketAddress& peer, std::string_view host, std::string_view path,
                         std::string_view query, policy::CategoryReader* reader, int64_t now_us) const {
  Decision d;
  d.host = std::string(host);
  const policy::PolicySnapshot& snap = *s.policies;
  d.tenant = snap.enabled ? snap.networks.find(peer.get()) : policy::kNoTenant;
  if (d.tenant == policy::kNoTenant) {
    d.kind = Decision::unknown_client;
    return d;
  }
  if (host.empty()) {
    d.kind = Decision::bad_host;
    return d;
  }
  const policy::CompiledPolicy& policy = snap.policies[snap.tenants[d.tenant].policy];
  const std::string wire = policy::to_wire(host);
  const int64_t now_s = now_us / 1000000;
  Batch batch(reader);
  d.verdict = policy::decide_query(policy, {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()}, batch.reader,
                                   now_s);
  if (d.verdict.blocked()) {
    d.kind = Decision::blocked;
    return d;
  }
  if (!d.verdict.inspected()) {
    d.kind = Decision::not_blocked;
    return d;
  }
  d.kind = Decision::inspect_allowed;
  d.read_only = d.verdict.read_only();
  if (!batch.reader) return d;
  // Every spelling of a listed URL is put in the store's canonical form by the reader.
  const policy::UrlMatch u = batch.reader->lookup_url(host, path, query);
  if (!u.found) return d;
  // The URL entry's categories against what the policy blocks now (schedules included): the
  // same rule as for names, by giving decide_query's category step the URL's categories.
  policy::CategorySet blocked = policy.block;
  for (const auto& sch : policy.schedule)
    if (sch.active_at(now_s, policy.holidays)) blocked |= sch.block;
  const policy::CategorySet hit = blocked & u.categories;
  if (hit.empty()) return d;
  d.kind = Decision::blocked;
  d.url_rule = true;
  d.url_category = static_cast<uint16_t>(hit.first());
  d.url_key = std::string(u.matched_key);
  return d;
}

net::http::Response Service::handle(const net::http::Request& req, policy::CategoryReader* reader, int64_t now_us,
                                    Decision* out) const {
  std::shared_ptr<const State> s = state();
  std::string_view host_header = req.header("host");
  if (host_header.empty()) host_header = req.header(":authority");
  const std::string host = normalise_host(!host_header.empty() ? host_header : req.server_name);
  // The certificate was minted for the SNI name only: a different Host on that connection
  // (domain fronting) would reach a name the handshake was never judged for.
  if (req.tls && !req.server_name.empty() && host != normalise_host(req.server_name)) {
    if (out) out->kind = Decision::bad_host;
    return text_response(421, "sekisho: the Host does not match the TLS server name\n");
  }
  Decision d = decide(*s, req.peer, host, req.path, req.query, reader, now_us);
  if (d.kind == Decision::inspect_allowed && d.read_only && !reads_only(req)) {
    d.kind = Decision::blocked;
    d.posting_refused = true;
  }
  if (out) *out = d;
  switch (d.kind) {
    case Decision::unknown_client:
      return text_response(403, "sekisho: " + req.peer.to_string() + " is not in any tenant's networks\n");
    case Decision::bad_host:
      return text_response(400, "sekisho: the request names no host this service can judge\n");
    case Decision::not_blocked:
      return text_response(404, "sekisho: " + host +
                                    " is not blocked for this network; this address only serves block pages\n");
    case Decision::inspect_allowed:
      return {};  // forwarded by the caller
    case Decision::blocked:
      break;
  }
  const policy::PolicySnapshot& snap = *s->policies;
  const policy::Tenant& tenant = snap.tenants[d.tenant];
  const policy::CompiledPolicy& policy = snap.policies[tenant.policy];
  BlockFacts f = facts_from_verdict(d.verdict, tenant, host);
  if (d.url_rule) {
    f.url_rule = true;
    f.category = d.url_category;
    f.rule = policy::RuleKind::category;
    f.rule_text = host + req.path;  // as the client spelt it; the detail names the entry
    f.categories = snap.categories.get();
    const policy::CategoryInfo* info = snap.categories->by_id(d.url_category);
    f.detail = "url=" + d.url_key + " category=" + std::string(info ? info->slug : "") + " tenant=" + tenant.id;
  }
  f.posting_refused = d.posting_refused;
  if (d.posting_refused) {
    char detail[256];
    f.detail = "posting is restricted ";
    f.detail.append(detail, policy::describe_verdict(d.verdict, tenant.id, detail, sizeof detail));
  }
  f.time_us = now_us;
  f.incident = incident_for(tenant.id, policy.log, req.peer, host, now_us);
  f.inspection = d.tenant < s->inspection.size() && s->inspection[d.tenant] && policy.deep_inspection;
  const Lang lang = pick_language(req.header("accept-language"), req.query_param("lang"));
  net::http::Response res;
  res.status = 403;
  res.set("content-type", "text/html; charset=utf-8");
  res.set("content-language", std::string(lang_code(lang)));
  res.set("cache-control", "no-store");
  res.set("vary", "accept-language");
  res.set("x-sekisho-incident", f.incident);
  res.body = render(s->templates->get(tenant.id, lang), f, lang);
  return res;
}

std::optional<size_t> Service::admit_sni(const net::SocketAddress& peer, std::string_view sni,
                                         policy::CategoryReader* reader, int64_t now_us) const {
  std::shared_ptr<const State> s = state();
  const std::string host = normalise_host(sni);
  if (host.empty() || host.size() != sni.size() - (!sni.empty() && sni.back() == '.')) return std::nullopt;
  Decision d = decide(*s, peer, host, "/", {}, reader, now_us);
  if (d.kind != Decision::blocked && d.kind != Decision::inspect_allowed) return std::nullopt;
  return d.tenant;
}

}  // namespace sekisho::intercept
