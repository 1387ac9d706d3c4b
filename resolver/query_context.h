// One query's state as the pipeline carries it from stage to stage (Query), and the pooled
// context that keeps it when it waits for an upstream (QueryContext). Fixed size, nothing owned
// inside: its pointers lead into the Runtime (kept alive by the context) and static tables.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "resolver/decode.h"
#include "net/address.h"
#include "policy/decide.h"
#include "policy/querylog/record.h"
#include "resolver/transport/udp_pktinfo.h"
#include "resolver/limits/usage.h"
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
  std::string_view device;                          // the name of the device a token named, or empty
};

// One query as the stages of resolver/pipeline.cc carry it: each stage reads what the ones
// before it learned and adds its own; finish() answers and records from it alone.
struct Query {
  Query(const Origin& o, uint64_t received, std::span<uint8_t> buffer)
      : origin(o), received_us(received), out(buffer) {}

  Origin origin;                       // receive: who asked, and how to answer them
  uint64_t received_us = 0;            //   the monotonic clock when it arrived: latency for log and metrics
  DecodedQuery request;                // decode: the client's question and EDNS
  const Runtime* runtime = nullptr;    // identify: the configuration it runs under (null before)
  Identity identity;                   //   whose query, which rules apply
  dns::ClientSubnet subnet;            //   the ECS the upstream is asked with (tenant's `ecs: forward`), else none
  uint16_t upstream_view = 0;          // answer_local: a forward zone's resolvers (Runtime::upstreams_for), 0 = global
  // decide, safe search: the strict-mode name asked upstream in place of the client's (wire,
  // lowercase, static storage), or empty.
  std::span<const uint8_t> safe_search_target;
  // The verdict the query log records: a block or inspection, a blocking CNAME chain, safe
  // search; rule none for a plain resolution.
  policy::Verdict verdict;
  querylog::QueryAction action = querylog::QueryAction::resolved;  // what the answer is, for the log
  std::span<uint8_t> out;              // where the answer is written (the transport's buffer, or
  size_t out_len = 0;                  //   the loop's scratch for a late answer); its length
  // identify: the largest UDP answer this unverified source may get (limits.unverified_udp_size,
  // the tenant's own); answers over it are TC=1.
  uint16_t udp_size = 1232;
  // forward: counted among the queries waiting on upstreams of its client (this slot of the
  // engine's ClientUpstreamCounts) and of its tenant (the Runtime's TenantUsage); finish releases.
  uint32_t waiting_client_slot = limits::ClientUpstreamCounts::kNoSlot;
  bool waiting_tenant = false;

  bool rewritten() const { return !safe_search_target.empty(); }
  // The name asked upstream and cached under: the client's, or its safe-search target.
  std::span<const uint8_t> asked_name() const {
    if (rewritten()) return safe_search_target;
    return {request.question.qname_lower, request.question.qname_len};
  }
  // The question that goes upstream (a copy, made when a query is forwarded).
  dns::Question asked() const {
    dns::Question q = request.question;
    if (rewritten()) {
      std::memcpy(q.qname_lower, safe_search_target.data(), safe_search_target.size());
      std::memcpy(q.qname, safe_search_target.data(), safe_search_target.size());
      q.qname_len = static_cast<uint16_t>(safe_search_target.size());
    }
    return q;
  }
  // The largest answer this client takes over its transport.
  size_t limit() const {
    const size_t transport_limit = answer_limit(request, origin.transport);
    return origin.transport == Transport::udp ? std::min<size_t>(transport_limit, udp_size) : transport_limit;
  }
  std::span<const uint8_t> answer() const { return out.first(out_len); }
};

// A query waiting for an upstream: only those get one, from the owning loop's pool.
struct QueryContext {
  Query query{Origin{}, 0, {}};
  std::shared_ptr<const Runtime> runtime;  // keeps query.runtime alive while it waits
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
