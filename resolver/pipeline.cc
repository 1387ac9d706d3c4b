#include "resolver/pipeline.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "policy/decide.h"
#include "policy/querylog/record.h"
#include "policy/safe_search.h"
#include "base/clock.h"
#include "resolver/cache/cache_key.h"
#include "resolver/ddr.h"
#include "resolver/synthesize.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {

constexpr size_t kEdeTextMax = 200;

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

enum class Identified { ok, unknown_client, unknown_device };

// Stage 2, identify: a device token (DoH path, DoT server name) names the tenant; otherwise the
// tenant whose network holds the client (most specific wins). With no tenants configured
// everyone may resolve and nothing is filtered, but a token can name no device.
Identified identify(const Runtime& rt, const Origin& origin, Identity& id) {
  const policy::PolicySnapshot& policies = *rt.policies;
  if (origin.device.state != OriginDevice::State::none) {
    if (origin.device.state == OriginDevice::State::unknown || origin.device.generation != rt.generation ||
        origin.device.ref.tenant >= policies.tenants.size())
      return Identified::unknown_device;
    id.tenant = origin.device.ref.tenant;
  } else {
    if (!policies.enabled) return Identified::ok;
    id.tenant = policies.networks.find(origin.peer.get());
    if (id.tenant == policy::kNoTenant) return Identified::unknown_client;
  }
  id.policy = &policies.policies[policies.tenants[id.tenant].policy];
  id.log = id.policy->log;
  if (!id.policy->filters()) id.policy = nullptr;
  id.inspect_chain = id.policy != nullptr;
  return Identified::ok;
}

Step refuse_unknown_client(Worker& w, const DecodedQuery& q, const Origin& origin, Identified why,
                           std::span<uint8_t> out, size_t& out_len) {
  ++w.counters().refused_unknown_client;
  // RFC 8914 §4.19: 18 Prohibited, the client is not authorised.
  const dns::Ede ede{dns::EdeCode::prohibited, why == Identified::unknown_device
                                                   ? "unknown device token in the TLS server name"
                                                   : "client is not in any tenant's networks"};
  out_len = write_error(q, dns::Rcode::refused, &ede, out, answer_limit(q, origin.transport));
  return out_len ? Step::answered : Step::dropped;
}

// Stage 3b: a blocked verdict becomes the policy's block answer with its reason as EDE.
size_t answer_blocked(Worker& w, const Runtime& rt, const Identity& id, const policy::Verdict& v,
                      const DecodedQuery& q, Transport transport, std::span<uint8_t> out) {
  if (!v.inspected()) ++w.counters().blocked;
  char text[kEdeTextMax];
  const size_t len = policy::describe_verdict(v, rt.policies->tenants[id.tenant].id, text, sizeof text);
  // Deep inspection: the block-page address is where sekisho-intercept checks each URL (RFC 8914 4 Forged Answer).
  const dns::Ede ede{v.inspected() ? dns::EdeCode::forged_answer
                     : v.security() ? dns::EdeCode::blocked : dns::EdeCode::filtered, std::string_view(text, len)};
  return write_blocked(q, v.inspected() ? config::BlockAction::blockpage : id.policy->action, rt.policies->blockpage,
                       ede, out, answer_limit(q, transport));
}

// Writes `a` for q, unless the tenant's policy blocks a name in its CNAME chain (then
// `chain` holds that verdict).
size_t answer_from(Worker& w, const Runtime& rt, const Identity& id, const DecodedQuery& q, Transport transport,
                   const cache::CachedAnswer& a, uint32_t age, bool stale, const dns::Ede* ede, std::span<uint8_t> out,
                   policy::Verdict& chain) {
  if (id.inspect_chain && !a.chain.empty()) {
    chain = policy::decide_chain(*id.policy, a.chain, w.category_reader(), w.clock().wall_seconds());
    if (chain.blocked()) return answer_blocked(w, rt, id, chain, q, transport, out);
  }
  return write_answer(q, a, age, stale, ede, out, answer_limit(q, transport));
}

// What the query asks upstream: its own question, or the safe-search target in its place.
struct Asked {
  dns::Question question;
  bool rewritten = false;
  std::span<const uint8_t> target() const { return {question.qname_lower, question.qname_len}; }
};

// Stage 3c, safe search: search engines' names are asked as their strict-mode names.
void rewrite_safe_search(const Identity& id, const policy::Verdict& v, const DecodedQuery& q, Asked& asked) {
  if (!id.policy || !id.policy->safe_search || v.rule == policy::RuleKind::allow_list) return;
  const auto target = policy::safe_search_target({q.question.qname_lower, q.question.qname_len});
  if (target.empty()) return;
  std::memcpy(asked.question.qname_lower, target.data(), target.size());
  std::memcpy(asked.question.qname, target.data(), target.size());
  asked.question.qname_len = static_cast<uint16_t>(target.size());
  asked.rewritten = true;
}

// Writes the answer for one client from an answer to what was asked upstream.
size_t answer_asked(Worker& w, const Runtime& rt, const Identity& id, const DecodedQuery& q, const Asked& asked,
                    Transport transport, const cache::CachedAnswer& a, uint32_t age, bool stale, const dns::Ede* ede,
                    std::span<uint8_t> out, policy::Verdict& chain) {
  if (asked.rewritten)
    return write_rewritten(q, asked.target(), a, age, rt.policies->blockpage.ttl, out, answer_limit(q, transport));
  return answer_from(w, rt, id, q, transport, a, age, stale, ede, out, chain);
}

// Stage 4: a fresh cache entry answers at once, TTLs counted down.
bool lookup_cache(Worker& w, const Runtime& rt, const Identity& id, const DecodedQuery& q, const Asked& asked,
                  const cache::CacheKey& key, const Origin& origin, std::span<uint8_t> out, size_t& out_len,
                  policy::Verdict& chain) {
  auto found = w.cache().find(key, w.clock().mono_ms(), false, [&](const cache::CachedAnswer& a, uint32_t age) {
    out_len = answer_asked(w, rt, id, q, asked, origin.transport, a, age, false, nullptr, out, chain);
  });
  return found == cache::Freshness::fresh && out_len > 0;
}

// Stage 5: park the query and ask upstream (coalesced with identical queries in flight).
Step forward(Worker& w, const DecodedQuery& q, const Identity& id, const Asked& asked, const cache::CacheKey& key,
             uint64_t received_us,
             const Origin& origin) {
  QueryContext* ctx = w.pool().acquire();
  if (!ctx) {
    ++w.counters().dropped_overload;  // bounded memory beats answering late
    return Step::dropped;
  }
  ctx->origin = origin;
  ctx->query = q;
  ctx->runtime = w.runtime();
  ctx->identity = id;
  ctx->asked = asked.question;
  ctx->rewritten = asked.rewritten;
  ctx->received_us = received_us;
  w.forwarder().resolve(ctx, key, w.runtime());
  return Step::pending;
}

// Stage 10, record: one fixed-size record into this loop's query-log ring (dropped and counted
// by the ring when the writer falls behind; the query never waits).
void record(Worker& w, const DecodedQuery& q, const Origin& origin, const Identity& id, querylog::QueryAction action,
            std::span<const uint8_t> answer, const policy::Verdict* verdict, uint64_t received_us,
            const Runtime* rt = nullptr) {
  const uint64_t answered_us = monotonic_us();
  const uint64_t latency_us = answered_us - received_us;
  w.counters().observe_latency(latency_us);
  querylog::QueryLogRing* ring = w.querylog_ring();
  if (!ring || !q.question_ok || (id.tenant == policy::kNoTenant && !w.querylog_files())) return;
  querylog::QueryRecord r;
  r.time_us = w.clock().wall_us_at(answered_us);
  r.latency_us = static_cast<uint32_t>(std::min<uint64_t>(latency_us, UINT32_MAX));
  r.tenant = id.tenant;
  if (rt) r.generation = static_cast<uint32_t>(rt->generation);  // names its categories (writer.h)
  r.qtype = q.question.qtype;
  r.rcode = answer.size() >= 4 ? (answer[3] & 0x0F) : 0;
  static_assert(static_cast<int>(Transport::dot) == static_cast<int>(querylog::Transport::dot) &&
                static_cast<int>(Transport::doh) == static_cast<int>(querylog::Transport::doh));
  r.transport = static_cast<querylog::Transport>(origin.transport);
  if (rt && origin.device.state == OriginDevice::State::known && origin.device.generation == rt->generation) {
    const auto& tenants = rt->policies->tenants;
    const policy::DeviceRef& d = origin.device.ref;
    if (d.tenant < tenants.size() && d.device < tenants[d.tenant].devices.size())
      querylog::set_text(r.device, tenants[d.tenant].devices[d.device]);
  }
  r.action = action;
  r.log_mode = static_cast<querylog::LogMode>(id.log);
  if (origin.peer.family() == AF_INET) {
    uint8_t a[4];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in*>(&origin.peer.storage)->sin_addr, 4);
    querylog::set_client_v4(r, a);
  } else if (origin.peer.family() == AF_INET6) {
    uint8_t a[16];
    std::memcpy(a, &reinterpret_cast<const sockaddr_in6*>(&origin.peer.storage)->sin6_addr, 16);
    querylog::set_client_v6(r, a);
  }
  querylog::set_qname(r, {q.question.qname_lower, q.question.qname_len});
  if (verdict && verdict->rule != policy::RuleKind::none) {
    r.categories = verdict->categories.bits();
    if (verdict->category != 0xFF) r.categories |= uint64_t{1} << verdict->category;
    r.rule = static_cast<querylog::RuleKind>(verdict->rule);
    if (verdict->list_entry) querylog::set_text(r.rule_text, *verdict->list_entry);
    if (verdict->schedule) querylog::set_text(r.rule_text, verdict->schedule->description);
  }
  ring->try_push(r);
}

}  // namespace

Step run_query(Worker& w, std::span<const uint8_t> msg, const Origin& origin, std::span<uint8_t> out, size_t& out_len) {
  ++w.counters().queries[static_cast<int>(origin.transport)];
  const uint64_t received_us = w.clock().mono_us;  // the batch's reading: every query in it had arrived
  DecodedQuery q;
  DecodeResult decoded = decode(msg, q);
  if (decoded != DecodeResult::ok) {
    ++w.counters().malformed;
    Step s = answer_decode_error(q, decoded, origin, out, out_len);
    record(w, q, origin, Identity{}, querylog::QueryAction::malformed, out.first(out_len), nullptr, received_us);
    return s;
  }
  const Runtime& rt = *w.runtime();
  Identity id;
  if (const Identified who = identify(rt, origin, id); who != Identified::ok) {
    Step s = refuse_unknown_client(w, q, origin, who, out, out_len);
    record(w, q, origin, id, querylog::QueryAction::refused, out.first(out_len), nullptr, received_us, &rt);
    return s;
  }
  if (is_ddr_query(q)) {  // RFC 9462: a question about this server itself, never forwarded or filtered
    out_len = write_ddr(q, rt.settings.server, out, answer_limit(q, origin.transport));
    record(w, q, origin, id, querylog::QueryAction::resolved, out.first(out_len), nullptr, received_us, &rt);
    return out_len ? Step::answered : Step::dropped;
  }
  Asked asked;
  asked.question = q.question;
  if (id.policy) {
    const std::span<const uint8_t> qname(q.question.qname_lower, q.question.qname_len);
    policy::Verdict v = policy::decide_query(*id.policy, qname, w.category_reader(), w.clock().wall_seconds());
    if (v.blocked() || v.inspected()) {
      out_len = answer_blocked(w, rt, id, v, q, origin.transport, out);
      record(w, q, origin, id, v.inspected() ? querylog::QueryAction::inspected : querylog::QueryAction::blocked,
             out.first(out_len), &v, received_us, &rt);
      return out_len ? Step::answered : Step::dropped;
    }
    if (v.rule == policy::RuleKind::allow_list) id.inspect_chain = false;  // exclusions are trusted whole
    rewrite_safe_search(id, v, q, asked);
    if (asked.rewritten) id.inspect_chain = false;  // the vendors' own strict-mode names
  }
  const cache::CacheKey key = cache::make_key(asked.question, q.edns.do_bit, q.header.flags & dns::flag::kCd);
  policy::Verdict chain;
  if (lookup_cache(w, rt, id, q, asked, key, origin, out, out_len, chain)) {
    ++w.counters().cache_hits;
    const auto action = chain.blocked() ? querylog::QueryAction::blocked
                        : asked.rewritten ? querylog::QueryAction::rewritten
                                          : querylog::QueryAction::cached;
    record(w, q, origin, id, action, out.first(out_len), chain.blocked() ? &chain : nullptr, received_us, &rt);
    return Step::answered;
  }
  ++w.counters().cache_misses;
  return forward(w, q, id, asked, key, received_us, origin);
}

void answer_waiters(Worker& w, QueryContext* waiters, const upstream::Resolution& resolution) {
  BatchScope batch(w);  // CNAME inspection reads the category store
  std::span<uint8_t> out = w.scratch();
  for (QueryContext* ctx = waiters; ctx;) {
    QueryContext* next = ctx->next_waiter;
    const DecodedQuery& q = ctx->query;
    const Runtime& rt = *ctx->runtime;
    const Transport transport = ctx->origin.transport;
    const Asked asked{ctx->asked, ctx->rewritten};
    size_t len = 0;
    policy::Verdict chain;
    auto action = asked.rewritten ? querylog::QueryAction::rewritten : querylog::QueryAction::resolved;
    if (resolution.answer) {
      len = answer_asked(w, rt, ctx->identity, q, asked, transport, *resolution.answer, 0, false, nullptr, out, chain);
    } else {
      const cache::CacheKey key = cache::make_key(ctx->asked, q.edns.do_bit, q.header.flags & dns::flag::kCd);
      const dns::Ede stale_ede{dns::EdeCode::stale_answer, resolution.failure_text};
      auto found = w.cache().find(key, w.clock().mono_ms(), true, [&](const cache::CachedAnswer& a, uint32_t age) {
        len = answer_asked(w, rt, ctx->identity, q, asked, transport, a, age, true, &stale_ede, out, chain);
      });
      if (found == cache::Freshness::miss || len == 0) {
        const dns::Ede ede{resolution.failure, resolution.failure_text};
        len = write_error(q, dns::Rcode::servfail, &ede, out, answer_limit(q, transport));
        ++w.counters().servfail;
        action = querylog::QueryAction::servfail;
      } else {
        ++w.counters().stale_answers;
        action = querylog::QueryAction::stale;
      }
    }
    if (chain.blocked()) action = querylog::QueryAction::blocked;
    record(w, q, ctx->origin, ctx->identity, action, out.first(len), chain.blocked() ? &chain : nullptr,
           ctx->received_us, &rt);
    w.deliver(*ctx, out.first(len));
    w.pool().release(ctx);
    ctx = next;
  }
}

}  // namespace sekisho::resolver
