// One attempt to get an answer from one upstream, over UDP (here) or TCP and TLS (tcp_pool.h).
//
// Ownership: an Exchange owns itself. It reports exactly once through its callback, or never
// if cancel() is called first; after either, the caller must drop its pointer. The object
// frees itself once libuv has closed its handles.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/counter.h"
#include "dns/edns.h"
#include "dns/wire.h"
#include "net/address.h"
#include "net/tls/client_context.h"

namespace sekisho::upstream {

enum class ExchangeStatus {
  answer,         // a matching response; see msg / question_end
  truncated,      // a matching UDP response with TC=1: retry over TCP (RFC 7766 §5)
  network_error,  // refused, unreachable, connection reset, malformed stream
};

struct ExchangeResult {
  ExchangeStatus status;
  std::span<const uint8_t> msg;  // valid only during the callback
  size_t question_end = 0;
  int error = 0;  // libuv / errno code for network_error
  std::string_view detail;  // network_error: a better reason than strerror(error) when set (TLS), valid during the callback
};

// Why a result that is not an answer failed, for logs and EDE text.
std::string failure_reason(const ExchangeResult& result);

using ExchangeCallback = void (*)(void* owner, const ExchangeResult& result);

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void cancel() = 0;
};

// Where a DNS-over-TLS or DNS-over-HTTPS connection's trust comes from (an Upstream's,
// upstreams.h): its context (null when it could not be built: attempts fail with `error`) and
// the name to verify and send; for DoH also what each request carries (RFC 8484 POST).
struct TlsTarget {
  std::shared_ptr<net::tls::ClientContext> context;
  std::string name;
  std::string error;
  std::string http_authority;  // DoH only; empty: DoT
  std::string http_path;
};

struct ExchangeRequest {
  const net::SocketAddress* server;
  std::span<const uint8_t> query;  // copied by the exchange
  uint16_t id;
  const dns::Question* question;   // must outlive the exchange (owned by the caller's in-flight entry)
  ExchangeCallback callback;
  void* owner;
  // UDP: raised while the exchange's socket is open, so its owner can bound the descriptors its
  // exchanges hold (the engine's Forwarder; null: not counted). Must outlive the exchange.
  Gauge* open_sockets = nullptr;
  // TCP pool: DNS over TLS or HTTPS with this target instead of plain TCP. Must outlive the exchange.
  const TlsTarget* tls = nullptr;
};

// Our query to an upstream, into `out`: RD set, CD as given, EDNS with our UDP payload and DO as
// given, and the ECS option when `subnet` has a family. `question` is asked lowercased (qname_lower).
void build_query(const dns::Question& question, uint16_t id, bool cd, bool do_bit, std::vector<uint8_t>& out,
                 const dns::ClientSubnet& subnet = {});

// Returns nullptr (having reported nothing) when the socket cannot even be created; `error`
// then holds the errno.
Exchange* start_udp_exchange(uv_loop_t* loop, const ExchangeRequest& request, int& error);

}  // namespace sekisho::upstream
