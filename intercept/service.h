// What sekisho-intercept answers, without sockets: a request (as net/http delivers it)
// becomes the block page, a plain refusal, or (deep inspection) a URL verdict; and a TLS
// ClientHello's SNI is admitted only when that client's tenant blocks or deep-checks the name,
// so the service never mints a certificate for an arbitrary name.
//
// Threading: the State is immutable and swapped whole on reload (like sekishod's snapshot);
// each loop thread passes its own CategoryReader.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"
#include "intercept/blockpage.h"
#include "policy/decide.h"
#include "policy/policy.h"
#include "policy/store/category_store.h"
#include "net/address.h"
#include "net/http/message.h"

namespace sekisho::intercept {

struct State {
  std::shared_ptr<const policy::PolicySnapshot> policies;
  std::shared_ptr<const Templates> templates;
  std::vector<bool> inspection;  // per tenant index: HTTPS inspection possible (a CA and an https listener)
};

// The incident ID for a request, derived exactly as the query-log writer derives it for the DNS
// query (policy/querylog/incident.h): the client as logged (anonymized per the policy's `log`).
std::string incident_for(std::string_view tenant_id, config::LogMode log, const net::SocketAddress& peer,
                         std::string_view name, int64_t time_us);

// "Example.COM.:8080" → "example.com"; empty when it is not a host name (or an IP literal).
std::string normalise_host(std::string_view host_header);

// Whether a request only reads: GET or HEAD, with no body and no protocol upgrade. POST, PUT,
// PATCH, DELETE and every other method post or change something; a body is an upload whatever
// the method; a WebSocket (any Upgrade) is a channel that posts.
bool reads_only(const net::http::Request& req);

// The decision for one host (and path) for one client.
struct Decision {
  enum Kind { unknown_client, bad_host, not_blocked, blocked, inspect_allowed } kind = not_blocked;
  std::string host;          // normalised Host (or SNI)
  uint16_t tenant = policy::kNoTenant;
  policy::Verdict verdict;   // the name's verdict (DNS side)
  bool url_rule = false;     // a URL entry of the store blocked it
  // The host is at level read_only: reading passes, posting is refused (Service::handle).
  bool read_only = false;
  bool posting_refused = false;  // this request posted to a read-only host
  uint16_t url_category = policy::kNoCategory;
  std::string url_key;       // "com.example.videos/adult"
};

class Service {
 public:
  void set_state(std::shared_ptr<const State> state) {
    std::lock_guard lock(mutex_);
    state_ = std::move(state);
  }
  std::shared_ptr<const State> state() const {
    std::lock_guard lock(mutex_);
    return state_;
  }

  // `reader` may be null (no store); it is used inside one begin/end batch here.
  // path and query as the request holds them (query without its '?'), in any spelling.
  Decision decide(const State& s, const net::SocketAddress& peer, std::string_view host, std::string_view path,
                  std::string_view query, policy::CategoryReader* reader, int64_t now_us) const;

  // The response for a request. Blocked → 403 block page; not blocked → 404 text; unknown
  // client → 403 text. Deep inspection with an allowed URL is returned as kind inspect_allowed
  // in `decision` with an empty response for the caller to forward. A read-only host's request
  // that posts (reads_only() is false) gets the block page with "posting is restricted".
  net::http::Response handle(const net::http::Request& req, policy::CategoryReader* reader, int64_t now_us,
                             Decision* decision = nullptr) const;

  // TLS: the index of the client at `peer`'s tenant in the policies of the state in use, when it
  // may get a certificate for `sni` (the name is blocked or deep-checked for its tenant), so the
  // caller finds its minter without a search; nullopt otherwise.
  std::optional<size_t> admit_sni(const net::SocketAddress& peer, std::string_view sni,
                                  policy::CategoryReader* reader, int64_t now_us) const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const State> state_;
};

}  // namespace sekisho::intercept
