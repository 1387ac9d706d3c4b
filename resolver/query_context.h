// Per-query state that must outlive the receive callback: only queries that wait for an
// upstream get one. Fixed size, taken from the owning loop's pool; no heap pointers inside.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "resolver/decode.h"
#include "net/address.h"
#include "resolver/transport/udp_pktinfo.h"
#include "resolver/respond.h"
#include "resolver/runtime.h"

namespace sekisho::resolver {

class TcpConnection;

// The device a DoH path or DoT server name named by its token. The transport resolves the
// token against the Runtime the query runs under (same batch), so `ref` indexes that
// generation's tables; identify refuses a ref from any other generation.
struct OriginDevice {
  enum class State : uint8_t { none, known, unknown } state = State::none;
  policy::DeviceRef ref;
  uint64_t generation = 0;
};

// Who asked, and how to get the answer back to them.
struct Origin {
  Transport transport = Transport::udp;
  int udp_fd = -1;                       // the listener socket the datagram arrived on
  net::SocketAddress peer;
  net::QueryDestination destination;    // udp: the address the client sent the query to
  TcpConnection* connection = nullptr;   // tcp, dot: kept alive by its pending count until we answer
  uint32_t doh_slot = 0;                 // doh: the Worker's table entry holding the HTTP exchange,
  uint32_t doh_serial = 0;               //   and its serial, so a reused entry never takes a stale answer
  OriginDevice device;                   // dot, doh: the device token, when the client gave one
};

// Whose query this is and which of their rules apply; filled by the identify stage.
struct Identity {
  uint16_t tenant = 0xFFFF;                         // index into the snapshot's tenants
  const policy::CompiledPolicy* policy = nullptr;   // null: nothing is filtered for this client
  bool inspect_chain = false;                       // check CNAME targets of the answer (not for allow-listed names)
  config::LogMode log = config::LogMode::full;      // the tenant policy's query-log mode
};

struct QueryContext {
  Origin origin;
  DecodedQuery query;
  std::shared_ptr<const Runtime> runtime;  // the configuration the query was identified under
  Identity identity;
  dns::Question asked;     // what goes upstream: the client's question, or its safe-search target
  bool rewritten = false;  // safe search: answer as CNAME to asked.qname_lower
  uint64_t received_us = 0;  // monotonic_us() when the query arrived: latency for log and metrics
  QueryContext* next_waiter = nullptr;  // intrusive list of queries waiting on one upstream query
};

// A per-loop free list, so waiting queries cost no allocation once the pool has grown to the
// loop's working set. `limit` bounds memory under a flood of unanswerable queries.
class ContextPool {
 public:
  explicit ContextPool(size_t limit) : limit_(limit) {}
  QueryContext* acquire() {
    if (in_use_ >= limit_) return nullptr;
    ++in_use_;
    if (free_.empty()) return new QueryContext();
    QueryContext* c = free_.back().release();
    free_.pop_back();
    return c;
  }
  void release(QueryContext* c) {
    --in_use_;
    c->next_waiter = nullptr;
    c->runtime.reset();
    free_.emplace_back(c);
  }
  size_t in_use() const { return in_use_; }

 private:
  std::vector<std::unique_ptr<QueryContext>> free_;
  size_t in_use_ = 0;
  size_t limit_;
};

}  // namespace sekisho::resolver
