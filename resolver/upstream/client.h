// A DNS client of the configured upstreams on one libuv loop, for programs that are not the
// engine (sekisho-intercept's origin lookups): one question at a time, none of the engine's
// cache, coalescing or per-query context.
//
// It asks as the engine's Forwarder does, with the same parts (exchange.h, tcp_pool.h,
// upstreams.h): up to `forwarding.attempts` attempts on upstreams picked round robin by health,
// each bounded by `forwarding.timeout_ms`, a fresh random ID and a fresh connected UDP socket per
// attempt, EDNS with our payload, a UDP answer with TC=1 asked again over TCP on the same
// upstream (not counted as an attempt), `transport: tcp` upstreams asked over TCP only. An
// answer other than NOERROR or NXDOMAIN, a timeout or a network error fails the attempt over to
// the next upstream. Nothing blocks: every wait is a libuv handle on the loop.
//
// Threading: a Client belongs to its loop and is only touched from it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/random.h"
#include "config/settings.h"
#include "resolver/upstream/tcp_pool.h"
#include "resolver/upstream/upstreams.h"

namespace sekisho::upstream {

struct ClientAnswer {
  bool ok = false;               // a NOERROR or NXDOMAIN answer to the question
  std::span<const uint8_t> msg;  // when ok: the whole response, valid only during the callback
  size_t question_end = 0;       // when ok: offset just after the response's question
  std::string failure;           // when not ok: what the last attempt met, for messages
};

class Client {
 public:
  using Callback = std::function<void(const ClientAnswer&)>;

  Client(uv_loop_t* loop, const std::vector<config::UpstreamSettings>& upstreams, const config::ForwardingSettings& forwarding);
  // Questions still in flight are dropped: their callbacks are never called. Their handles
  // finish closing on the loop's next turn.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Asks `qtype` IN for `qname` (wire form, root label included). `done` is called exactly once,
  // from the loop, never before ask() returns.
  void ask(std::string_view qname, uint16_t qtype, Callback done);

  size_t in_flight() const { return in_flight_; }
  const UpstreamSet& upstreams() const { return upstreams_; }

  struct Question;  // client.cc

 private:
  static void on_exchange_done(void* owner, const ExchangeResult& result);
  static void on_timeout(uv_timer_t* timer);
  static void on_start(uv_timer_t* timer);
  void start_attempt(Question* q);
  void retry_over_tcp(Question* q);
  void fail_attempt(Question* q, std::string why);
  void finish(Question* q, const ClientAnswer& answer);

  uv_loop_t* loop_;
  config::ForwardingSettings forwarding_;
  UpstreamSet upstreams_;
  TcpPool tcp_pool_;
  Random random_;
  uint32_t round_robin_ = 0;
  Question* first_ = nullptr;  // questions in flight, a doubly linked list
  size_t in_flight_ = 0;
};

}  // namespace sekisho::upstream
