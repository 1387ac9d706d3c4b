#include "net/http/exchange.h"

#include <algorithm>

#include "base/clock.h"
#include "net/http/session.h"

namespace sekisho::net::http {

void ExchangeImpl::respond(Response response) {
  if (responded()) return;
  reply = Reply::whole;
  res = std::move(response);
  if (session) session->respond(*this);
}

void ExchangeImpl::respond_head(Response head, std::optional<uint64_t> len) {
  if (responded()) return;
  reply = Reply::streaming;
  length = len;
  if (upgrade == Upgrade::requested && head.status == 101) upgrade = Upgrade::tunnel;
  res = std::move(head);
  if (session) session->respond(*this);
}

void ExchangeImpl::deliver(std::string_view data) {
  if (!data.empty()) {
    unacked += data.size();
    if (reader) reader(data, false);
    else body_pending.append(data);
  }
  if (upload == Upload::complete && reader && body_pending.empty()) {
    upload = Upload::delivered;
    reader({}, true);
  }
}

void ExchangeImpl::read_body(BodyReader r) {
  if (!session && upload == Upload::receiving) return;
  reader = std::move(r);
  // A client waiting for "100 Continue" before sending its body gets it once the handler wants
  // the body (HTTP/1.1; an HTTP/2 client sends without waiting).
  if (session && req.version == 11 && upload == Upload::receiving && !responded() &&
      req.header("expect") == "100-continue")
    session->send_continue(*this);
  if (!body_pending.empty()) {
    std::string pending;
    pending.swap(body_pending);
    unacked -= pending.size();  // deliver() counts it again
    deliver(pending);
  } else {
    deliver({});
  }
}

void ExchangeImpl::restart_body_clock() {
  body_clock_ms = monotonic_ms();
  body_clock_bytes = body_received;
}

uint64_t ExchangeImpl::body_deadline_ms(const Limits& l) const {
  return body_clock_ms + l.body_timeout_ms + (body_received - body_clock_bytes) * 1000 / std::max<uint32_t>(l.body_min_rate, 1);
}

void ExchangeImpl::consumed(size_t bytes) {
  bytes = std::min(bytes, unacked);
  const bool held_back = unacked >= kBodyWindow;
  unacked -= bytes;
  if (held_back && unacked < kBodyWindow && body_clock_ms != 0) restart_body_clock();  // the wait was ours
  if (session) session->consumed(*this, bytes);
}

void ExchangeImpl::write(std::string_view data) {
  if (session && reply == Reply::streaming && !data.empty()) session->write(*this, data);
}

void ExchangeImpl::finish() {
  if (reply != Reply::streaming) return;
  reply = Reply::finished;
  if (session) session->finish(*this);
}

void ExchangeImpl::abort() {
  if (session) session->abort(*this);
}

size_t ExchangeImpl::unsent() const { return session ? session->unsent(*this) : 0; }

void ExchangeImpl::when_drained(std::function<void()> callback) {
  if (!session) return;
  if (unsent() < kLowWater) return callback();
  drain_cb = std::move(callback);
}

void ExchangeImpl::detach() {
  session = nullptr;
  if (cancel_cb) {
    auto cb = std::move(cancel_cb);
    cancel_cb = nullptr;
    // Over HTTP/2 a response without a body (HEAD, 204, 304) ends its stream as soon as the
    // head is out: that is completion, not a client gone.
    const bool completed = reply == Reply::finished || reply == Reply::whole ||
                           (reply == Reply::streaming && body_out == BodyOut::none);
    if (!completed) cb();
  }
  drain_cb = nullptr;
  reader = nullptr;
}

}  // namespace sekisho::net::http
