#include "resolver/upstream/client.h"

#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"

namespace sekisho::upstream {

struct Client::Question {
  Client* owner = nullptr;
  Question* prev = nullptr;
  Question* next = nullptr;
  dns::Question question;  // as asked (lowercase)
  Callback done;
  uv_timer_t timer{};
  Exchange* exchange = nullptr;
  size_t upstream = 0;
  uint64_t tried = 0;  // bitmask of upstream indexes, as UpstreamSet::pick takes it
  uint32_t attempts = 0;
  bool over_tcp = false;
  uint64_t attempt_started_us = 0;
  uint16_t id = 0;
  std::vector<uint8_t> query;
  std::string failure;
};

Client::Client(uv_loop_t* loop, const std::vector<config::UpstreamSettings>& upstreams,
               const config::ForwardingSettings& forwarding)
    : loop_(loop), forwarding_(forwarding), upstreams_(upstreams), tcp_pool_(loop) {
  tcp_pool_.set_limits(forwarding_.tcp_connections_per_upstream, forwarding_.tcp_idle_timeout_ms);
}

Client::~Client() {
  while (Question* q = first_) {
    first_ = q->next;
    if (q->exchange) q->exchange->cancel();
    uv_timer_stop(&q->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&q->timer), [](uv_handle_t* h) { delete static_cast<Question*>(h->data); });
  }
  tcp_pool_.close_all();  // the loop runs on after this client (sekisho-intercept's shutdown)
}

void Client::ask(std::string_view qname, uint16_t qtype, Callback done) {
  auto* q = new Question();
  q->owner = this;
  q->done = std::move(done);
  q->question.qname_len = static_cast<uint16_t>(std::min(qname.size(), sizeof q->question.qname));
  for (size_t i = 0; i < q->question.qname_len; ++i) {
    q->question.qname[i] = static_cast<uint8_t>(qname[i]);
    q->question.qname_lower[i] = base::ascii_lower(static_cast<uint8_t>(qname[i]));
  }
  q->question.qtype = qtype;
  q->question.qclass = dns::kClassIn;
  q->next = first_;
  if (first_) first_->prev = q;
  first_ = q;
  ++in_flight_;
  uv_timer_init(loop_, &q->timer);
  q->timer.data = q;
  // The first attempt starts on the loop's next turn, so `done` never runs inside ask() (an
  // attempt that cannot even send fails at once).
  uv_timer_start(&q->timer, &Client::on_start, 0, 0);
}

void Client::on_start(uv_timer_t* timer) {
  auto* q = static_cast<Question*>(timer->data);
  q->owner->start_attempt(q);
}

void Client::start_attempt(Question* q) {
  for (;;) {
    if (q->attempts >= forwarding_.attempts || upstreams_.size() == 0) {
      finish(q, ClientAnswer{false, {}, 0, q->failure.empty() ? std::string("no upstream is configured") : q->failure});
      return;
    }
    ++q->attempts;
    q->upstream = upstreams_.pick(q->tried, monotonic_ms(), round_robin_);
    if (q->upstream < 64) q->tried |= uint64_t{1} << q->upstream;
    const Upstream& up = upstreams_.at(q->upstream);
    q->over_tcp = upstreams_.over_stream(q->upstream);
    q->id = random_.next_u16();  // a fresh ID per attempt: a late answer to the last one is ignored
    build_query(q->question, q->id, false, false, q->query);
    q->attempt_started_us = monotonic_us();
    ExchangeRequest req{&up.settings.address, q->query, q->id, &q->question, &Client::on_exchange_done, q};
    req.tls = upstreams_.tls_target(q->upstream);
    int error = 0;
    q->exchange = q->over_tcp ? tcp_pool_.start(req, error) : start_udp_exchange(loop_, req, error);
    if (q->exchange) {
      uv_timer_start(&q->timer, &Client::on_timeout, forwarding_.timeout_ms, 0);
      return;
    }
    // Could not even send: a failed attempt; the next one goes on at once.
    upstreams_.report_failure(q->upstream, monotonic_ms());
    q->failure = up.name + ": " + (req.tls && !req.tls->context ? req.tls->error : std::string(std::strerror(error)));
  }
}

void Client::fail_attempt(Question* q, std::string why) {
  upstreams_.report_failure(q->upstream, monotonic_ms());
  q->failure = std::move(why);
  log::debug("upstream-client", "attempt failed", {{"reason", q->failure}});
  start_attempt(q);
}

void Client::on_timeout(uv_timer_t* timer) {
  auto* q = static_cast<Question*>(timer->data);
  if (q->exchange) {
    q->exchange->cancel();
    q->exchange = nullptr;
  }
  Client* self = q->owner;
  self->fail_attempt(q, self->upstreams_.at(q->upstream).name + (q->over_tcp ? " over TCP" : "") + ": timeout after " +
                            std::to_string(self->forwarding_.timeout_ms) + " ms");
}

void Client::retry_over_tcp(Question* q) {
  // RFC 7766 §5: the same server over TCP, within the same attempt, with a fresh timer.
  q->over_tcp = true;
  const Upstream& up = upstreams_.at(q->upstream);
  ExchangeRequest req{&up.settings.address, q->query, q->id, &q->question, &Client::on_exchange_done, q};
  int error = 0;
  q->exchange = tcp_pool_.start(req, error);
  if (q->exchange) {
    uv_timer_start(&q->timer, &Client::on_timeout, forwarding_.timeout_ms, 0);
    return;
  }
  fail_attempt(q, up.name + " over TCP: " + std::strerror(error));
}

void Client::on_exchange_done(void* owner, const ExchangeResult& result) {
  auto* q = static_cast<Question*>(owner);
  Client* self = q->owner;
  q->exchange = nullptr;
  uv_timer_stop(&q->timer);
  const std::string& name = self->upstreams_.at(q->upstream).name;
  if (result.status == ExchangeStatus::truncated && !q->over_tcp) return self->retry_over_tcp(q);
  if (result.status != ExchangeStatus::answer) {
    return self->fail_attempt(q, name + ": " + failure_reason(result));
  }
  const dns::Rcode rcode = dns::read_header(result.msg).rcode();
  if (rcode != dns::Rcode::noerror && rcode != dns::Rcode::nxdomain)  // another upstream may do better
    return self->fail_attempt(q, name + " answered " + std::string(dns::rcode_name(rcode)));
  self->upstreams_.report_success(q->upstream, monotonic_us() - q->attempt_started_us);
  self->finish(q, ClientAnswer{true, result.msg, result.question_end, {}});
}

void Client::finish(Question* q, const ClientAnswer& answer) {
  (q->prev ? q->prev->next : first_) = q->next;
  if (q->next) q->next->prev = q->prev;
  --in_flight_;
  Callback done = std::move(q->done);
  uv_timer_stop(&q->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&q->timer), [](uv_handle_t* h) { delete static_cast<Question*>(h->data); });
  done(answer);  // last: it may even destroy this Client
}

}  // namespace sekisho::upstream
