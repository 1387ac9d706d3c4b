// Stage 5, forward: resolves cache misses through the upstreams, one loop's worth.
//
// Identical outstanding queries (same cache key) are coalesced: later askers on this loop join
// the first one's waiter list; askers on other loops find it in the shared InflightRegistry and
// wait for this loop's announcement. The upstream sees one query. Each in-flight entry tries up to
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

#include "base/log_throttle.h"
#include "base/random.h"
#include "resolver/cache/cache.h"
#include "resolver/counters.h"
#include "dns/types.h"
#include "resolver/query_context.h"
#include "resolver/runtime.h"
#include "resolver/upstream/exchange.h"
#include "resolver/upstream/inflight_registry.h"
#include "resolver/upstream/tcp_pool.h"

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
    // Tells the loops in `loops` (bit per loop index) that joined this key what became of it.
    virtual void announce(uint64_t loops, const cache::CacheKey& key, const Resolution& resolution) = 0;
  };

  // This loop's forwarding counters (resolver/counters.h); Engine::sample() reads them.
  struct Counters {
    SEKISHO_FORWARDER_COUNTERS(SEKISHO_COUNTER_FIELD)
  };

  Forwarder(uv_loop_t* loop, unsigned loop_index, cache::Cache& cache, InflightRegistry& registry, Delegate& delegate)
      : loop_(loop), loop_index_(loop_index), cache_(cache), registry_(registry), delegate_(delegate), tcp_pool_(loop) {}
  ~Forwarder();

  // Takes ctx (from the loop's pool) as a waiter for `key` (ctx->query.asked() is what goes upstream);
  // it comes back through the delegate.
  void resolve(resolver::QueryContext* ctx, const cache::CacheKey& key, std::shared_ptr<const resolver::Runtime> runtime);

  // Another loop answered a key this loop joined (runs on this loop's thread).
  void on_announcement(const cache::CacheKey& key, const Resolution& resolution);

  // This loop's share of the process's descriptors for upstream UDP sockets (set by the engine
  // before the loop starts); forwarding.max_upstream_sockets applies below it.
  void set_descriptor_share(uint32_t sockets) { descriptor_share_ = sockets; }
  uint32_t descriptor_share() const { return descriptor_share_; }

  size_t in_flight() const { return all_count_; }

  // Ends every upstream query of this loop now (a drain that timed out): its waiters are
  // answered with `why` (a stale answer, else SERVFAIL + EDE 0) and its exchange and timer
  // closed, so that nothing is left holding the loop or leaking at exit.
  void abandon_all(std::string_view why);
  const Counters& counters() const { return counters_; }
  const TcpPool& tcp_pool() const { return tcp_pool_; }

  struct Inflight;  // defined in forwarder.cc

 private:
  static void on_exchange_done(void* owner, const ExchangeResult& result);
  static void on_timeout(uv_timer_t* timer);
  void start_attempt(Inflight* f);
  void retry_over_tcp(Inflight* f);
  void fail_attempt(Inflight* f, dns::EdeCode code, std::string text);
  void out_of_sockets(Inflight* f, uint32_t limit);
  void finish(Inflight* f, const Resolution& r);

  uv_loop_t* loop_;
  unsigned loop_index_;
  cache::Cache& cache_;
  InflightRegistry& registry_;
  Delegate& delegate_;
  TcpPool tcp_pool_;  // TCP to the upstreams, reused across queries of this loop
  Random random_;
  uint32_t round_robin_ = 0;
  std::unordered_map<uint64_t, Inflight*> in_flight_;
  // Every entry, in the map or not (an entry whose key hash collided with another in-flight
  // key is only here), so that abandon_all reaches each one.
  Inflight* all_ = nullptr;
  size_t all_count_ = 0;
  uint32_t descriptor_share_ = UINT32_MAX;
  log::Throttle limit_log_;  // out_of_sockets' warning
  Counters counters_;
};

}  // namespace sekisho::upstream
