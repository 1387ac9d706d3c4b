#include "resolver/pipeline.h"

#include <cstdio>
#include <cstring>

#include "policy/decide.h"
#include "policy/querylog/make_record.h"
#include "policy/safe_search.h"
#include "base/clock.h"
#include "base/log.h"
#include "resolver/limits/response_rate_limit.h"
#include "resolver/cache/cache_key.h"
#include "resolver/ddr.h"
#include "resolver/local_answers.h"
#include "resolver/synthesize.h"
#include "resolver/worker.h"

// Stage numbers are those of resolver/README.md, which walks one query through them.
namespace sekisho::resolver {
namespace {

constexpr size_t kEdeTextMax = 200;
// ECS source prefixes: RFC 7871 §11.1 recommends at most 24 and 56 bits.
constexpr uint8_t kEcsPrefixV4 = 24;
constexpr uint8_t kEcsPrefixV6 = 56;

using querylog::QueryAction;

// Stage 1, decode (decode.cc): a message that is no answerable query is answered FORMERR,
// NOTIMP, BADVERS or REFUSED, or dropped.
Step decode(Worker& w, Query& query, std::span<const uint8_t> msg) {
  const DecodeResult decoded = resolver::decode(msg, query.request);
  if (decoded == DecodeResult::ok) return Step::next;
  ++w.counters().malformed;
  query.action = QueryAction::malformed;
  dns::Rcode rcode = dns::Rcode::formerr;
  switch (decoded) {
    case DecodeResult::drop: return Step::dropped;
    case DecodeResult::ok: return Step::next;  // not an error; never reached
    case DecodeResult::formerr: rcode = dns::Rcode::formerr; break;
    case DecodeResult::notimp: rcode = dns::Rcode::notimp; break;
    case DecodeResult::badvers: rcode = dns::Rcode::badvers; break;
    case DecodeResult::refused: rcode = dns::Rcode::refused; break;
  }
  query.out_len = write_error(query.request, rcode, nullptr, query.out, query.limit());
  return Step::answered;
}

Step refuse_unknown_client(Worker& w, Query& query, std::string_view why) {
  ++w.counters().refused_unknown_client;
  query.action = QueryAction::refused;
  // RFC 8914 §4.19: 18 Prohibited, the client is not authorised.
  const dns::Ede ede{dns::EdeCode::prohibited, why};
  query.out_len = write_error(query.request, dns::Rcode::refused, &ede, query.out, query.limit());
  return Step::answered;
}

// Stage 2, identify: a device token (DoH path, DoT server name) names the tenant; otherwise the
// tenant whose network holds the client (most specific wins). With no tenants configured
// everyone may resolve and nothing is filtered, but a token can name no device.
Step identify(Worker& w, Query& query) {
  const Runtime& rt = *w.runtime();
  query.runtime = &rt;
  query.udp_size = static_cast<uint16_t>(rt.settings.limits.unverified_udp_size);
  const policy::PolicySnapshot& policies = *rt.policies;
  const OriginDevice& device = query.origin.device;
  Identity& id = query.identity;
  if (device.state != OriginDevice::State::none) {
    if (device.state == OriginDevice::State::unknown || device.generation != rt.generation ||
        device.ref.tenant >= policies.tenants.size())
      return refuse_unknown_client(w, query, "unknown device token in the TLS server name");
    id.tenant = device.ref.tenant;
    const std::vector<std::string>& names = policies.tenants[id.tenant].devices;
    if (device.ref.device < names.size()) id.device = names[device.ref.device];
  } else {
    if (!policies.enabled) return Step::next;
    id.tenant = policies.networks.find(query.origin.peer.get());
    if (id.tenant == policy::kNoTenant) return refuse_unknown_client(w, query, "client is not in any tenant's networks");
  }
  // ECS (RFC 7871): only for a tenant that opted in, only as much of the address as /24 or /56
  // (§11.1: enough for the upstream's choice of server, not the client), never against a
  // client's explicit /0, and never the addresses a client puts in its own option (unverified).
  if (policies.tenants[id.tenant].forward_client_subnet && !query.request.edns.ecs_opt_out)
    query.subnet = dns::client_subnet_of(query.origin.peer.get(), kEcsPrefixV4, kEcsPrefixV6);
  query.udp_size = static_cast<uint16_t>(policies.tenants[id.tenant].limits.unverified_udp_size);
  id.policy = &policies.policies[policies.tenants[id.tenant].policy];
  id.log = id.policy->log;
  if (!id.policy->filters()) id.policy = nullptr;
  id.inspect_chain = id.policy != nullptr;
  return Step::next;
}

const policy::TenantLimits* tenant_limits(const Query& query) {
  if (!query.runtime || query.identity.tenant >= query.runtime->policies->tenants.size()) return nullptr;
  return &query.runtime->policies->tenants[query.identity.tenant].limits;
}

// Stage 2a, check_quota (limits/usage.h): a tenant over its queries per second is refused, with
// RFC 8914 §4.19's 18 (Prohibited: "local policy" refuses this client for now), until its
// bucket refills; the refusals are its own (per-tenant /metrics, action over_quota).
Step check_quota(Worker& w, Query& query) {
  const policy::TenantLimits* caps = tenant_limits(query);
  if (!caps || caps->queries_per_second == 0 ||
      query.runtime->tenant_usage->admit_query(query.identity.tenant, caps->queries_per_second, w.clock().mono_us * 1000))
    return Step::next;
  ++w.counters().quota_refused;
  query.action = QueryAction::over_quota;
  const std::string& tenant = query.runtime->policies->tenants[query.identity.tenant].id;
  if (const uint64_t n = w.quota_log().event(w.clock().mono_ms()))
    log::warning("limits", "tenant query quota reached; queries refused",
                 {{"tenant", tenant}, {"qps", caps->queries_per_second}, {"queries", n}});
  char text[kEdeTextMax];
  const int len = std::snprintf(text, sizeof text, "query quota of tenant %s reached (%u per second)", tenant.c_str(),
                                caps->queries_per_second);
  const dns::Ede ede{dns::EdeCode::prohibited, std::string_view(text, std::min<size_t>(len, sizeof text - 1))};
  query.out_len = write_error(query.request, dns::Rcode::refused, &ede, query.out, query.limit());
  return Step::answered;
}

// Stage 2b, answer_ddr (ddr.cc): a question about this server itself (RFC 9462), never
// forwarded or filtered.
Step answer_ddr(Query& query) {
  if (!is_ddr_query(query.request)) return Step::next;
  query.out_len = write_ddr(query.request, query.runtime->settings.server, query.out, query.limit());
  return Step::answered;
}

// Stage 3b, write_block (synthesize.cc write_blocked): a blocked verdict — the query's own (3)
// or its answer's CNAME chain's (7b) — becomes the policy's block answer with its reason as EDE.
size_t write_block(Worker& w, const Query& query, const policy::Verdict& v) {
  if (!v.inspected()) ++w.counters().blocked;
  const Runtime& rt = *query.runtime;
  char text[kEdeTextMax];
  const size_t len = policy::describe_verdict(v, rt.policies->tenants[query.identity.tenant].id, text, sizeof text);
  // Deep inspection: the block-page address is where sekisho-intercept checks each URL (RFC 8914 4 Forged Answer).
  const dns::Ede ede{v.inspected() ? dns::EdeCode::forged_answer
                     : v.security() ? dns::EdeCode::blocked : dns::EdeCode::filtered, std::string_view(text, len)};
  return write_blocked(query.request, v.inspected() ? config::BlockAction::blockpage : query.identity.policy->action,
                       rt.policies->blockpage, ede, query.out, query.limit());
}

// Stage 3c, rewrite_safe_search (policy/safe_search.cc): search engines' names are asked
// upstream as their strict-mode names, and answered as a CNAME to them (answer_from).
void rewrite_safe_search(Query& query) {
  if (!query.identity.policy->safe_search) return;
  const dns::Question& q = query.request.question;
  const auto target = policy::safe_search_target({q.qname_lower, q.qname_len});
  if (target.empty()) return;
  query.safe_search_target = target;
  query.verdict.rule = policy::RuleKind::safe_search;
  query.identity.inspect_chain = false;  // the vendors' own strict-mode names
}

// Stage 3, decide (policy/decide.cc): the tenant's policy on the name asked: block (3b), or let
// it through, as its safe-search name where the policy asks for that (3c).
Step decide(Worker& w, Query& query) {
  Identity& id = query.identity;
  if (!id.policy) return Step::next;
  const dns::Question& q = query.request.question;
  const policy::Verdict v =
      policy::decide_query(*id.policy, {q.qname_lower, q.qname_len}, w.category_reader(), w.clock().wall_seconds());
  if (v.blocked() || v.inspected()) {
    query.verdict = v;
    query.action = v.inspected() ? QueryAction::inspected : QueryAction::blocked;
    query.out_len = write_block(w, query, v);
    return Step::answered;
  }
  if (v.rule == policy::RuleKind::allow_list) {  // exclusions are trusted whole: no chain check, no safe search
    id.inspect_chain = false;
    return Step::next;
  }
  if (v.monitored()) query.verdict = v;  // resolved as usual; record() names it monitored
  rewrite_safe_search(query);
  return Step::next;
}

// Stage 3d, answer_any (RFC 8482): ANY gets one synthesized HINFO, never every RRset of the name
// from the cache or the upstream (24x amplification before). After decide: a blocked name's ANY
// still gets the block answer.
Step answer_any(Worker& w, Query& query) {
  const dns::Question& q = query.request.question;
  if (q.qtype != kQtypeAny || q.qclass != dns::kClassIn) return Step::next;
  ++w.counters().any_minimal;
  query.action = QueryAction::cached;  // answered here, no upstream asked
  query.out_len = write_minimal_any(query.request, query.out, query.limit());
  return Step::answered;
}

// What the cache and the upstreams know the query by: the name asked (the client's, or its
// safe-search target), type, class, the DO and CD bits, and the upstreams it goes to.
cache::CacheKey cache_key(const Query& query) {
  const DecodedQuery& q = query.request;
  return cache::make_key(query.asked_name(), q.question.qtype, q.question.qclass, q.edns.do_bit,
                         q.header.flags & dns::flag::kCd, query.subnet, query.upstream_view);
}

// Stage 7b, answer_from (for 4 and 7): the answer to what was asked, from an upstream's answer
// `a` (cached, fresh, or stale when `stale` holds its EDE 3): as a CNAME to the safe-search
// target (3c), else as it is (respond.cc) unless the tenant's policy blocks a name in its CNAME
// chain (CNAME cloaking): then the block answer (3b), logged as blocked by that chain.
void answer_from(Worker& w, Query& query, const cache::CachedAnswer& a, uint32_t age, const dns::Ede* stale) {
  if (query.rewritten()) {
    query.out_len = write_rewritten(query.request, query.safe_search_target, a, age,
                                    query.runtime->policies->blockpage.ttl, query.out, query.limit());
    return;
  }
  if (query.identity.inspect_chain && !a.chain.empty()) {
    const policy::Verdict chain =
        policy::decide_chain(*query.identity.policy, a.chain, w.category_reader(), w.clock().wall_seconds());
    if (chain.blocked()) {
      query.verdict = chain;
      query.action = QueryAction::blocked;
      query.out_len = write_block(w, query, chain);
      return;
    }
    if (chain.monitored() && !query.verdict.monitored()) query.verdict = chain;
  }
  query.out_len = write_answer(query.request, a, age, stale != nullptr, stale, query.out, query.limit());
}

// Stage 3e, answer_local (local_answers.h): the tenant's local records and zones answer here,
// authoritatively, after decide judged the name and through answer_from, which inspects a local
// CNAME chain like any other; a name in one of its forward zones goes on to the cache and that
// zone's resolvers. Safe-search names are the vendors' and stay with the global upstreams.
Step answer_local(Worker& w, Query& query) {
  const Identity& id = query.identity;
  if (id.tenant == policy::kNoTenant || query.rewritten() || query.request.question.qclass != dns::kClassIn) return Step::next;
  const std::vector<LocalAnswers>& local = query.runtime->local;
  if (id.tenant >= local.size() || local[id.tenant].empty()) return Step::next;
  const dns::Question& q = query.request.question;
  const LocalVerdict v = local[id.tenant].find({q.qname_lower, q.qname_len}, q.qtype);
  if (v.upstream_view) {
    query.upstream_view = v.upstream_view;
    ++w.counters().local_forwarded;
    return Step::next;
  }
  if (!v.answer) return Step::next;
  ++w.counters().local_answered;
  query.action = QueryAction::local;
  answer_from(w, query, *v.answer, 0, nullptr);
  return Step::answered;
}

// Stage 4, lookup_cache (cache/cache.h): a fresh entry answers at once, TTLs counted down.
Step lookup_cache(Worker& w, Query& query, const cache::CacheKey& key) {
  query.action = query.rewritten() ? QueryAction::rewritten : QueryAction::cached;
  const auto found = w.cache().find(key, w.clock().mono_ms(), false, [&](const cache::CachedAnswer& a, uint32_t age) {
    answer_from(w, query, a, age, nullptr);
  });
  if (found == cache::Freshness::fresh && query.out_len > 0) {
    ++w.counters().cache_hits;
    return Step::answered;
  }
  ++w.counters().cache_misses;
  // An entry whose answer could not be written is no answer: the upstream's is inspected afresh.
  if (query.action == QueryAction::blocked) query.verdict = {};
  return Step::next;
}

// The counts limit_upstream took for a query that no longer waits.
void release_waiting(Worker& w, const Query& query) {
  if (query.waiting_client_slot != limits::ClientUpstreamCounts::kNoSlot) w.client_upstream().release(query.waiting_client_slot);
  if (query.waiting_tenant) query.runtime->tenant_usage->release_upstream(query.identity.tenant);
}

// Stage 5, forward (upstream/forwarder.cc): the query is parked whole and asked upstream
// (coalesced with identical queries in flight); answer_waiters finishes it. With the loop's
// pool exhausted it is dropped unanswered and unlogged: bounded memory beats answering late.
Step forward(Worker& w, const Query& query, const cache::CacheKey& key) {
  QueryContext* ctx = w.pool().acquire();
  if (!ctx) {
    release_waiting(w, query);
    ++w.counters().dropped_overload;
    return Step::dropped;
  }
  ctx->query = query;
  ctx->runtime = w.runtime();
  w.forwarder().resolve(ctx, key, w.runtime());
  return Step::pending;
}

// Stage 7, answer_upstream (answer_waiters, for each waiting query): the upstream's fresh
// answer, or a stale cache entry (RFC 8767, EDE 3), or SERVFAIL with EDE 22/23.
void answer_upstream(Worker& w, Query& query, const upstream::Resolution& resolution) {
  if (resolution.answer) {
    query.action = query.rewritten() ? QueryAction::rewritten : QueryAction::resolved;
    return answer_from(w, query, *resolution.answer, 0, nullptr);
  }
  query.action = QueryAction::stale;
  const dns::Ede stale_ede{dns::EdeCode::stale_answer, resolution.failure_text};
  const auto found = w.cache().find(cache_key(query), w.clock().mono_ms(), true,
                                    [&](const cache::CachedAnswer& a, uint32_t age) { answer_from(w, query, a, age, &stale_ede); });
  if (found != cache::Freshness::miss && query.out_len > 0) {
    ++w.counters().stale_answers;
    return;
  }
  const dns::Ede ede{resolution.failure, resolution.failure_text};
  query.out_len = write_error(query.request, dns::Rcode::servfail, &ede, query.out, query.limit());
  ++w.counters().servfail;
  if (query.action != QueryAction::blocked) query.action = QueryAction::servfail;  // a blocking chain still says why
}

// Stage 4b, limit_upstream (limits/usage.h): a cache miss waits on upstreams only while its
// client (address, IPv6 /64) and its tenant have fewer than their caps waiting, across loops;
// else it is answered at once, from stale data or SERVFAIL + EDE 0 naming the cap, so that a
// random-subdomain flood from one client or tenant cannot hold the upstream sockets, the
// waiting pool and the upstreams' time that every other tenant's misses need.
Step limit_upstream(Worker& w, Query& query) {
  const Runtime& rt = *query.runtime;
  const policy::TenantLimits* caps = tenant_limits(query);
  const uint32_t per_client = caps ? caps->upstream_queries_per_client : rt.settings.limits.upstream_queries_per_client;
  limits::ClientUpstreamCounts& clients = w.client_upstream();
  const uint32_t slot = clients.slot_of(query.origin.peer.get());
  const char* whose = nullptr;
  uint32_t cap = 0;
  if (!clients.acquire(slot, per_client)) {
    ++w.counters().upstream_limited_client;
    whose = "client";
    cap = per_client;
  } else if (caps && !rt.tenant_usage->acquire_upstream(query.identity.tenant, caps->upstream_queries)) {
    clients.release(slot);
    ++w.counters().upstream_limited_tenant;
    whose = "tenant";
    cap = caps->upstream_queries;
  } else {
    query.waiting_client_slot = slot;
    query.waiting_tenant = caps != nullptr;
    return Step::next;
  }
  const std::string_view tenant = caps ? std::string_view(rt.policies->tenants[query.identity.tenant].id) : "-";
  if (const uint64_t n = w.upstream_limit_log().event(w.clock().mono_ms()))
    log::warning("limits", "queries waiting on upstreams capped; answered stale or SERVFAIL",
                 {{"per", whose}, {"client", limits::prefix_text(query.origin.peer.get(), 32, 64)}, {"tenant", tenant},
                  {"cap", cap}, {"queries", n}});
  char text[kEdeTextMax];
  const int len = std::snprintf(text, sizeof text, "too many queries of this %s waiting on upstreams (%u)", whose, cap);
  answer_upstream(w, query, upstream::Resolution{nullptr, dns::EdeCode::other,
                                                 std::string_view(text, std::min<size_t>(len, sizeof text - 1))});
  if (query.action == QueryAction::servfail) query.action = QueryAction::upstream_limited;
  return Step::answered;
}

// Stage 9a, limit_response (limits/response_rate_limit.h): a UDP answer over its client prefix's
// rate for its kind goes out empty with TC=1 (every rrl_slip-th) or not at all. Out of line: every
// UDP answer passes the test in limit_response, only limited clients come here.
[[gnu::noinline]] void rate_limit_answer(Worker& w, Query& query, const config::LimitSettings& global, uint32_t rate) {
  const limits::RrlPolicy policy{rate, global.rrl_slip, static_cast<uint8_t>(global.rrl_ipv4_prefix),
                                 static_cast<uint8_t>(global.rrl_ipv6_prefix)};
  const limits::ResponseKind kind = limits::classify_response(query.answer());
  const limits::RrlAction action = w.rrl().check(query.origin.peer.get(), kind, policy, w.clock().mono_us * 1000);
  if (action == limits::RrlAction::send) return;
  if (action == limits::RrlAction::slip) {
    ++w.counters().rrl_slipped;
    const auto rcode = static_cast<dns::Rcode>(dns::read_header(query.answer()).flags & dns::flag::kRcodeMask);
    query.out_len = write_truncated(query.request, rcode, query.out, query.limit());
  } else {
    ++w.counters().rrl_dropped;
    query.out_len = 0;
  }
  if (const uint64_t n = w.rrl_log().event(w.clock().mono_ms()))
    log::warning("rrl", "response rate limit reached; answers slipped (TC=1) or dropped",
                 {{"prefix", limits::prefix_text(query.origin.peer.get(), policy.v4_prefix, policy.v6_prefix)},
                  {"kind", limits::kind_name(kind)}, {"rate", policy.rate}, {"responses", n}});
}

inline void limit_response(Worker& w, Query& query) {
  if (query.origin.transport != Transport::udp || query.out_len < dns::kHeaderSize) return;
  const Runtime& rt = query.runtime ? *query.runtime : *w.runtime();  // none yet: a decode error
  const policy::TenantLimits* caps = tenant_limits(query);
  const uint32_t rate = caps ? caps->rrl_responses_per_second : rt.settings.limits.rrl_responses_per_second;
  if (rate != 0) rate_limit_answer(w, query, rt.settings.limits, rate);
}

// One fixed-size record into this loop's query-log ring (dropped and counted by the ring when
// the writer falls behind; the query never waits). Records without a tenant only go to files.
void record(Worker& w, const Query& query, uint64_t answered_us, uint64_t latency_us) {
  // Monitored: answered as resolved or cached, with a rule enforce would have applied.
  QueryAction action = query.action;
  if (query.verdict.monitored() && (action == QueryAction::resolved || action == QueryAction::cached)) {
    action = QueryAction::monitored;
    ++w.counters().monitored;
  }
  querylog::QueryLogRing* ring = w.querylog_ring();
  const Identity& id = query.identity;
  if (!ring || !query.request.question_ok || (id.tenant == policy::kNoTenant && !w.querylog_files())) return;
  const dns::Question& q = query.request.question;
  ring->try_push(querylog::make_record({.answered_us = w.clock().wall_us_at(answered_us),
                                        .latency_us = latency_us,
                                        .tenant = id.tenant,
                                        .generation = query.runtime ? static_cast<uint32_t>(query.runtime->generation) : 0,
                                        .log_mode = id.log,
                                        .transport = query.origin.transport,
                                        .action = action,
                                        .client = &query.origin.peer,
                                        .device = id.device,
                                        .qname = {q.qname_lower, q.qname_len},
                                        .qtype = q.qtype,
                                        .answer = query.answer(),
                                        .verdict = &query.verdict}));
}

// Stage 9, finish: every query answered (at once, or late after waiting for an upstream) and
// every query dropped on decode ends here: its latency, its query-log record, and the answer
// handed back — returned to the transport still holding the query, or, for a parked one, sent
// through Worker::deliver (stage 10) and its context returned to the pool.
Step finish(Worker& w, Query& query, Step step, QueryContext* parked = nullptr) {
  const uint64_t answered_us = monotonic_us();
  const uint64_t latency_us = answered_us - query.received_us;
  w.counters().observe_latency(latency_us);
  record(w, query, answered_us, latency_us);
  limit_response(w, query);
  if (parked) {
    release_waiting(w, query);
    w.deliver(*parked, query.answer());
    w.pool().release(parked);
  }
  return step == Step::answered && query.out_len > 0 ? Step::answered : Step::dropped;
}

}  // namespace

Step run_query(Worker& w, std::span<const uint8_t> msg, const Origin& origin, std::span<uint8_t> out, size_t& out_len) {
  ++w.counters().queries[static_cast<int>(origin.transport)];
  Query query(origin, w.clock().mono_us, out);  // the batch's reading: every query in it had arrived
  Step step = decode(w, query, msg);
  if (step == Step::next) step = identify(w, query);
  if (step == Step::next) step = check_quota(w, query);
  if (step == Step::next) step = answer_ddr(query);
  if (step == Step::next) step = decide(w, query);
  if (step == Step::next) step = answer_any(w, query);
  if (step == Step::next) step = answer_local(w, query);
  if (step == Step::next) {
    const cache::CacheKey key = cache_key(query);
    step = lookup_cache(w, query, key);
    if (step == Step::next) step = limit_upstream(w, query);
    if (step == Step::next) return forward(w, query, key);  // parked: answer_waiters finishes it
  }
  step = finish(w, query, step);
  out_len = query.out_len;
  return step;
}

void answer_waiters(Worker& w, QueryContext* waiters, const upstream::Resolution& resolution) {
  BatchScope batch(w);  // CNAME inspection reads the category store
  for (QueryContext* ctx = waiters; ctx;) {
    QueryContext* next = ctx->next_waiter;
    Query& query = ctx->query;
    query.out = w.scratch();
    query.out_len = 0;
    answer_upstream(w, query, resolution);
    finish(w, query, Step::answered, ctx);
    ctx = next;
  }
}

}  // namespace sekisho::resolver
