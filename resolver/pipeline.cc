#include "resolver/pipeline.h"

#include "resolver/base/clock.h"
#include "resolver/cache/cache_key.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {

Step answer_decode_error(const DecodedQuery& q, DecodeResult r, const Origin& origin, std::span<uint8_t> out,
                         size_t& out_len) {
  dns::Rcode rcode = dns::Rcode::formerr;
  switch (r) {
    case DecodeResult::drop: return Step::dropped;
    case DecodeResult::ok: return Step::dropped;  // not an error; never reached
    case DecodeResult::formerr: rcode = dns::Rcode::formerr; break;
    case DecodeResult::notimp: rcode = dns::Rcode::notimp; break;
    case DecodeResult::badvers: rcode = dns::Rcode::badvers; break;
    case DecodeResult::refused: rcode = dns::Rcode::refused; break;
  }
  out_len = write_error(q, rcode, nullptr, out, answer_limit(q, origin.transport));
  return out_len ? Step::answered : Step::dropped;
}

// Stage 4: a fresh cache entry answers at once, TTLs counted down.
bool lookup_cache(Worker& w, const DecodedQuery& q, const cache::CacheKey& key, const Origin& origin,
                  std::span<uint8_t> out, size_t& out_len) {
  auto found = w.cache().find(key, monotonic_ms(), false, [&](const cache::CachedAnswer& a, uint32_t age) {
    out_len = write_answer(q, a, age, false, nullptr, out, answer_limit(q, origin.transport));
  });
  return found == cache::Freshness::fresh && out_len > 0;
}

// Stage 5: park the query and ask upstream (coalesced with identical queries in flight).
Step forward(Worker& w, const DecodedQuery& q, const cache::CacheKey& key, const Origin& origin) {
  QueryContext* ctx = w.pool().acquire();
  if (!ctx) {
    ++w.counters().dropped_overload;  // bounded memory beats answering late
    return Step::dropped;
  }
  ctx->origin = origin;
  ctx->query = q;
  ctx->received_ms = monotonic_ms();
  w.forwarder().resolve(ctx, key, w.runtime());
  return Step::pending;
}

}  // namespace

Step run_query(Worker& w, std::span<const uint8_t> msg, const Origin& origin, std::span<uint8_t> out, size_t& out_len) {
  ++w.counters().queries[static_cast<int>(origin.transport)];
  DecodedQuery q;
  DecodeResult decoded = decode(msg, q);
  if (decoded != DecodeResult::ok) {
    ++w.counters().malformed;
    return answer_decode_error(q, decoded, origin, out, out_len);
  }
  // identify (tenant) and decide (policy) join here with the policy issue.
  const cache::CacheKey key = cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd);
  if (lookup_cache(w, q, key, origin, out, out_len)) {
    ++w.counters().cache_hits;
    return Step::answered;
  }
  ++w.counters().cache_misses;
  return forward(w, q, key, origin);
}

void answer_waiters(Worker& w, QueryContext* waiters, const upstream::Resolution& resolution) {
  std::span<uint8_t> out = w.scratch();
  for (QueryContext* ctx = waiters; ctx;) {
    QueryContext* next = ctx->next_waiter;
    const DecodedQuery& q = ctx->query;
    const size_t limit = answer_limit(q, ctx->origin.transport);
    size_t len = 0;
    if (resolution.answer) {
      len = write_answer(q, *resolution.answer, 0, false, nullptr, out, limit);
    } else {
      const cache::CacheKey key = cache::make_key(q.question, q.edns.do_bit, q.header.flags & dns::flag::kCd);
      const dns::Ede stale_ede{dns::EdeCode::stale_answer, resolution.failure_text};
      auto found = w.cache().find(key, monotonic_ms(), true, [&](const cache::CachedAnswer& a, uint32_t age) {
        len = write_answer(q, a, age, true, &stale_ede, out, limit);
      });
      if (found == cache::Freshness::miss || len == 0) {
        const dns::Ede ede{resolution.failure, resolution.failure_text};
        len = write_error(q, dns::Rcode::servfail, &ede, out, limit);
        ++w.counters().servfail;
      } else {
        ++w.counters().stale_answers;
      }
    }
    w.deliver(*ctx, out.first(len));
    w.pool().release(ctx);
    ctx = next;
  }
}

}  // namespace sekisho::resolver
