// Stage 5, forward: resolves cache misses through the upstreams, one loop's worth.
//
// Identical outstanding queries (same cache key) are coalesced: later askers join the first
// one's waiter list and the upstream sees one query. Each in-flight entry tries up to
// `forwarding.attempts` upstreams, each attempt bounded by `forwarding.timeout_ms`; a UDP
// answer with TC=1 is re-asked over TCP from the same upstream (not counted as an attempt).
// Usable answers go into the shared cache before the waiters are answered.
//
// Threading: a Forwarder belongs to one libuv loop and is only touched from that loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "resolver/base/random.h"
#include "resolver/cache/cache.h"
#include "resolver/dns/types.h"
#include "resolver/query_context.h"
#include "resolver/runtime.h"
#include "resolver/upstream/exchange.h"

namespace sekisho::upstream {

// What became of an upstream query, handed to the loop to answer its waiters.
struct Resolution {
  const cache::CachedAnswer* answer = nullptr;  // null when every attempt failed
  dns::EdeCode failure = dns::EdeCode::other;   // no_reachable_authority or network_error
  std::string_view failure_text;                // for EDE EXTRA-TEXT
};

class Forwarder {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Answers and releases every context in the `waiters` list.
    virtual void on_resolved(resolver::QueryContext* waiters, const Resolution& resolution) = 0;
  };

  struct Counters {
    uint64_t upstream_queries = 0;
    uint64_t coalesced = 0;
    uint64_t timeouts = 0;
    uint64_t network_errors = 0;
    uint64_t truncated_retries = 0;
    uint64_t failed = 0;
  };

  Forwarder(uv_loop_t* loop, cache::Cache& cache, Delegate& delegate) : loop_(loop), cache_(cache), delegate_(delegate) {}
  ~Forwarder();

  // Takes ctx (from the loop's pool) as a waiter for `key`; it comes back through the delegate.
  void resolve(resolver::QueryContext* ctx, const cache::CacheKey& key, std::shared_ptr<const resolver::Runtime> runtime);

  size_t in_flight() const { return in_flight_.size() + unmapped_; }
  const Counters& counters() const { return counters_; }

  struct Inflight;  // defined in forwarder.cc

 private:
  static void on_exchange_done(void* owner, const ExchangeResult& result);
  static void on_timeout(uv_timer_t* timer);
  void start_attempt(Inflight* f);
  void retry_over_tcp(Inflight* f);
  void fail_attempt(Inflight* f, dns::EdeCode code, std::string text);
  void finish(Inflight* f, const Resolution& r);

  uv_loop_t* loop_;
  cache::Cache& cache_;
  Delegate& delegate_;
  Random random_;
  uint32_t round_robin_ = 0;
  std::unordered_map<uint64_t, Inflight*> in_flight_;
  size_t unmapped_ = 0;  // entries whose key hash collided with another in-flight key
  Counters counters_;
};

}  // namespace sekisho::upstream
