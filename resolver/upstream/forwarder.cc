#include "resolver/upstream/forwarder.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "resolver/upstream/exchange.h"

namespace sekisho::upstream {

struct Forwarder::Inflight {
  Forwarder* owner = nullptr;
  cache::CacheKey key;
  dns::Question question;  // as asked upstream (lowercase)
  bool do_bit = false;
  bool cd_bit = false;
  dns::ClientSubnet subnet;  // ECS to send (the tenant's `ecs: forward`); part of `key`
  bool mapped = false;
  bool registered = false;  // owner of the key in the InflightRegistry: must release and announce
  bool joined = false;      // waiting for another loop's announcement instead of asking
  Inflight* prev = nullptr;  // every entry of the loop, mapped or not (Forwarder::all_)
  Inflight* next = nullptr;
  std::shared_ptr<const resolver::Runtime> runtime;
  const UpstreamSet* upstreams = nullptr;  // the global ones, or a forward zone's (kept alive by runtime)
  resolver::QueryContext* waiters = nullptr;
  resolver::QueryContext** waiters_tail = &waiters;
  uv_timer_t timer{};
  Exchange* exchange = nullptr;
  size_t upstream = 0;
  uint64_t tried = 0;
  uint32_t attempts = 0;
  bool over_tcp = false;
  uint64_t attempt_started_us = 0;
  uint16_t id = 0;
  std::vector<uint8_t> query;
  dns::EdeCode failure = dns::EdeCode::no_reachable_authority;
  std::string failure_text;
};

Forwarder::~Forwarder() {
  // A loop that ran has abandoned what it still had (abandon_all, on a drain timeout) before its
  // handles closed, so nothing is left here; one that never ran never forwarded.
  for (Inflight* f = all_; f != nullptr;) {
    Inflight* next = f->next;
    for (resolver::QueryContext* w = f->waiters; w != nullptr;) {
      resolver::QueryContext* after = w->next_waiter;
      delete w;
      w = after;
    }
    delete f;
    f = next;
  }
}

void Forwarder::abandon_all(std::string_view why) {
  // Each entry ends the way a failed one does (its exchange cancelled, which frees the exchange
  // in its close callback; its waiters answered through the delegate; its timer closed, which
  // frees the entry), so the loop then runs out of handles by itself and exits.
  while (Inflight* f = all_) {
    if (f->exchange) {
      f->exchange->cancel();
      f->exchange = nullptr;
    }
    ++counters_.failed;
    finish(f, Resolution{nullptr, dns::EdeCode::other, why});
  }
}

void Forwarder::resolve(resolver::QueryContext* ctx, const cache::CacheKey& key,
                        std::shared_ptr<const resolver::Runtime> runtime) {
  ctx->next_waiter = nullptr;
  auto it = in_flight_.find(key.hash);
  if (it != in_flight_.end() && it->second->key == key) {
    Inflight* f = it->second;
    *f->waiters_tail = ctx;
    f->waiters_tail = &ctx->next_waiter;
    ++counters_.coalesced;
    return;
  }
  auto* f = new Inflight();
  f->owner = this;
  f->key = key;
  f->question = ctx->query.asked();
  f->do_bit = ctx->query.request.edns.do_bit;
  f->cd_bit = (ctx->query.request.header.flags & dns::flag::kCd) != 0;
  f->subnet = ctx->query.subnet;
  f->runtime = std::move(runtime);
  f->upstreams = &f->runtime->upstreams_for(ctx->query.upstream_view);  // part of `key`, as the view is
  f->waiters = ctx;
  f->waiters_tail = &ctx->next_waiter;
  f->next = all_;
  if (all_) all_->prev = f;
  all_ = f;
  ++all_count_;
  if (it == in_flight_.end()) {
    in_flight_.emplace(key.hash, f);
    f->mapped = true;
  }
  uv_timer_init(loop_, &f->timer);
  f->timer.data = f;
  switch (registry_.claim(key, loop_index_)) {
    case InflightRegistry::Claim::joined: {
      // Wait for the owner, but not forever: if its announcement does not come within the
      // time its own attempts can take, ask ourselves.
      f->joined = true;
      ++counters_.joined_other_loop;
      const auto& fw = f->runtime->settings.forwarding;
      uv_timer_start(&f->timer, &Forwarder::on_timeout, uint64_t{fw.timeout_ms} * (fw.attempts + 1) + 100, 0);
      return;
    }
    case InflightRegistry::Claim::owner:
      f->registered = true;
      break;
    case InflightRegistry::Claim::unshared:
      break;
  }
  start_attempt(f);
}

void Forwarder::on_announcement(const cache::CacheKey& key, const Resolution& resolution) {
  auto it = in_flight_.find(key.hash);
  if (it == in_flight_.end() || !(it->second->key == key) || !it->second->joined) return;  // already gave up waiting
  uv_timer_stop(&it->second->timer);
  finish(it->second, resolution);
}

void Forwarder::start_attempt(Inflight* f) {
  const auto& settings = f->runtime->settings.forwarding;
  const UpstreamSet& ups = *f->upstreams;
  for (;;) {
    if (f->attempts >= settings.attempts || ups.size() == 0) {
      ++counters_.failed;
      finish(f, Resolution{nullptr, f->failure, f->failure_text});
      return;
    }
    ++f->attempts;
    f->upstream = ups.pick(f->tried, monotonic_ms(), round_robin_);
    if (f->upstream < 64) f->tried |= uint64_t{1} << f->upstream;
    f->over_tcp = ups.over_stream(f->upstream);
    // A UDP attempt holds a socket of its own (a fresh source port per attempt, RFC 5452); TCP
    // and TLS attempts share the pool's connections.
    if (const uint32_t limit = std::min(settings.max_upstream_sockets, descriptor_share_);
        !f->over_tcp && counters_.upstream_sockets_open.load() >= limit) {
      out_of_sockets(f, limit);
      return;
    }
    f->id = random_.next_u16();  // a fresh ID per attempt: a late answer to the last one is ignored
    build_query(f->question, f->id, f->cd_bit, f->do_bit, f->query, f->subnet);
    f->attempt_started_us = monotonic_us();
    ExchangeRequest req{&ups.at(f->upstream).settings.address, f->query, f->id, &f->question, &Forwarder::on_exchange_done, f};
    req.open_sockets = &counters_.upstream_sockets_open;
    req.tls = ups.tls_target(f->upstream);
    tcp_pool_.set_limits(settings.tcp_connections_per_upstream, settings.tcp_idle_timeout_ms);
    int error = 0;
    f->exchange = f->over_tcp ? tcp_pool_.start(req, error) : start_udp_exchange(loop_, req, error);
    ++counters_.upstream_queries;
    if (f->exchange) {
      uv_timer_start(&f->timer, &Forwarder::on_timeout, settings.timeout_ms, 0);
      return;
    }
    // Could not even send: count it as a failed attempt and move on within this loop.
    ups.report_failure(f->upstream, monotonic_ms());
    f->failure = dns::EdeCode::network_error;
    f->failure_text = "upstream " + ups.at(f->upstream).name + ": " +
                      (req.tls && !req.tls->context ? req.tls->error : std::string(std::strerror(error)));
    ++counters_.network_errors;
  }
}

// Every UDP socket this loop may hold toward upstreams is in use: the query is answered at once
// (stale data, else SERVFAIL + EDE 0 saying so) instead of taking a descriptor the process needs
// to accept clients and answer from the cache. Logged at most every 10 s, with the count since.
void Forwarder::out_of_sockets(Inflight* f, uint32_t limit) {
  ++counters_.socket_limited;
  if (const uint64_t queries = limit_log_.event(monotonic_ms()))
    log::warning("forwarder", "upstream socket limit reached; queries answered SERVFAIL",
                 {{"loop", loop_index_}, {"limit", limit}, {"queries", queries}});
  f->failure = dns::EdeCode::other;
  f->failure_text = "upstream socket limit reached (" + std::to_string(limit) + " open on this thread)";
  finish(f, Resolution{nullptr, f->failure, f->failure_text});
}

void Forwarder::fail_attempt(Inflight* f, dns::EdeCode code, std::string text) {
  f->upstreams->report_failure(f->upstream, monotonic_ms());
  f->failure = code;
  f->failure_text = std::move(text);
  log::debug("forwarder", "attempt failed", {{"reason", f->failure_text}});
  start_attempt(f);
}

void Forwarder::on_timeout(uv_timer_t* timer) {
  auto* f = static_cast<Inflight*>(timer->data);
  if (f->joined) {
    f->joined = false;  // the owning loop never announced: ask upstream ourselves
    f->owner->start_attempt(f);
    return;
  }
  if (f->exchange) {
    f->exchange->cancel();
    f->exchange = nullptr;
  }
  ++f->owner->counters_.timeouts;
  f->owner->fail_attempt(f, dns::EdeCode::no_reachable_authority,
                         "upstream " + f->upstreams->at(f->upstream).name + ": timeout after " +
                             std::to_string(f->runtime->settings.forwarding.timeout_ms) + " ms");
}

void Forwarder::retry_over_tcp(Inflight* f) {
  // RFC 7766 §5: the same server, over TCP; the same attempt with a fresh timer.
  ++counters_.truncated_retries;
  f->over_tcp = true;
  const auto& up = f->upstreams->at(f->upstream);
  ExchangeRequest req{&up.settings.address, f->query, f->id, &f->question, &Forwarder::on_exchange_done, f};
  const auto& fw = f->runtime->settings.forwarding;
  tcp_pool_.set_limits(fw.tcp_connections_per_upstream, fw.tcp_idle_timeout_ms);
  int error = 0;
  f->exchange = tcp_pool_.start(req, error);
  if (f->exchange) {
    uv_timer_start(&f->timer, &Forwarder::on_timeout, f->runtime->settings.forwarding.timeout_ms, 0);
    return;
  }
  fail_attempt(f, dns::EdeCode::network_error, "upstream " + up.name + " over TCP: " + std::strerror(error));
}

void Forwarder::on_exchange_done(void* owner, const ExchangeResult& result) {
  auto* f = static_cast<Inflight*>(owner);
  Forwarder* self = f->owner;
  f->exchange = nullptr;
  uv_timer_stop(&f->timer);
  const std::string& name = f->upstreams->at(f->upstream).name;

  if (result.status == ExchangeStatus::truncated && !f->over_tcp) {
    self->retry_over_tcp(f);
    return;
  }
  if (result.status != ExchangeStatus::answer) {
    ++self->counters_.network_errors;
    self->fail_attempt(f, dns::EdeCode::network_error,
                       "upstream " + name + ": " + failure_reason(result));
    return;
  }
  dns::Rcode rcode = dns::read_header(result.msg).rcode();
  if (rcode != dns::Rcode::noerror && rcode != dns::Rcode::nxdomain) {
    // SERVFAIL, REFUSED, NOTIMP, FORMERR: this upstream cannot help; another may.
    self->fail_attempt(f, dns::EdeCode::no_reachable_authority,
                       "upstream " + name + " answered " + std::string(dns::rcode_name(rcode)));
    return;
  }
  if (!dns::ecs_echo_matches(result.msg, result.question_end, f->subnet)) {
    // RFC 7871 §7.3: an answer for another subnet than the one we sent is dropped, never cached.
    self->fail_attempt(f, dns::EdeCode::network_error, "upstream " + name + ": answered for another client subnet (ECS)");
    return;
  }
  cache::CachedAnswer answer;
  std::string why;
  if (!cache::make_cached_answer(result.msg, result.question_end, f->runtime->settings.cache, answer, why)) {
    self->fail_attempt(f, dns::EdeCode::network_error, "upstream " + name + ": " + why);
    return;
  }
  f->upstreams->report_success(f->upstream, monotonic_us() - f->attempt_started_us);
  self->finish(f, Resolution{&answer, dns::EdeCode::other, {}});
}

void Forwarder::finish(Inflight* f, const Resolution& r) {
  if (r.answer && !f->joined) cache_.insert(f->key, *r.answer, monotonic_ms());
  if (f->registered) {
    if (uint64_t loops = registry_.release(f->key)) delegate_.announce(loops, f->key, r);
  }
  if (f->mapped) in_flight_.erase(f->key.hash);
  (f->prev ? f->prev->next : all_) = f->next;
  if (f->next) f->next->prev = f->prev;
  f->prev = f->next = nullptr;
  --all_count_;
  resolver::QueryContext* waiters = f->waiters;
  f->waiters = nullptr;
  delegate_.on_resolved(waiters, r);
  uv_timer_stop(&f->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&f->timer), [](uv_handle_t* h) { delete static_cast<Inflight*>(h->data); });
}

}  // namespace sekisho::upstream
