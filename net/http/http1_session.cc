#include "net/http/http1_session.h"

#include <utility>

#include "base/clock.h"
#include "base/log.h"
#include "net/http/chunked.h"
#include "net/http/connection.h"

namespace sekisho::net::http {
// ---------------------------------------------------------------------------------- reading

void Http1Session::received(std::string_view plain) {
  in_.append(plain);
  parse();
}

void Http1Session::parse() {
  if (limits().streaming) parse_streaming();
  else parse_pipelined();
}

void Http1Session::parse_pipelined() {
  while (!conn_.closing() && intake_ == Intake::open && queue_.size() < limits().max_pipelined) {
    Http1Result r;
    auto ex = take(parse_http1_request, r);
    if (!ex) break;
    head_started_ms_ = in_.empty() ? 0 : monotonic_ms();
    queue_.push_back(ex);
    dispatch(ex);
  }
  // Read no further ahead than we answer.
  const bool want = !conn_.closing() && intake_ == Intake::open && queue_.size() < limits().max_pipelined;
  if (!want) conn_.set_reading(false);
}

// The request at the front of in_, parsed by `parse` (parse_http1_request for the whole request,
// parse_http1_head for the head alone) and consumed; null while its head is incomplete or when it
// was refused. The head timer starts with the first byte of a head.
std::shared_ptr<Http1Exchange> Http1Session::take(Parse parse, Http1Result& r) {
  if (in_.empty()) {
    head_started_ms_ = 0;
    return nullptr;
  }
  if (head_started_ms_ == 0) head_started_ms_ = monotonic_ms();
  auto ex = std::make_shared<Http1Exchange>(nullptr);
  r = parse(in_, limits().max_header_bytes, limits().max_body_bytes, ex->req);
  if (r.kind == Http1Result::incomplete) return nullptr;
  ex->session = this;
  if (r.kind == Http1Result::error) {
    refuse(ex, r);
    return nullptr;
  }
  in_.erase(0, r.consumed);
  if (!r.keep_alive || requests_ + 1 >= limits().max_requests_per_connection) stop_intake(*ex);
  return ex;
}

// An unparsable request is answered with its error and ends the connection: after it, the
// byte stream has no trustworthy request boundary.
void Http1Session::refuse(const std::shared_ptr<Http1Exchange>& ex, const Http1Result& r) {
  ++counters().protocol_errors;
  stop_intake(*ex);
  in_.clear();
  queue_.push_back(ex);
  conn_.fill_origin(ex->req);
  ex->respond(error_response(r.status, r.reason));
}

// Streaming: one request at a time; its head goes to the handler at once, its body follows
// through pump_body as it arrives.
void Http1Session::parse_streaming() {
  while (!conn_.closing()) {
    if (reading_) {
      if (!pump_body()) break;
      continue;
    }
    if (intake_ != Intake::open || !queue_.empty()) break;
    Http1Result r;
    auto ex = take(parse_http1_head, r);
    if (!ex) break;
    head_started_ms_ = 0;
    const uint64_t content_length = r.content_length.value_or(0);
    if (r.upgrade && r.framing != Framing::chunked && content_length == 0) ex->upgrade = Upgrade::requested;
    ex->body_len = r.framing == Framing::chunked ? -1 : static_cast<int64_t>(content_length);
    if (ex->upgrade == Upgrade::requested) {
      body_ = Body::tunnel_wait;  // bytes after the head wait for the 101
      decoder_ = BodyDecoder(Framing::until_close, 0);
      reading_ = ex;
    } else if (r.framing == Framing::chunked || content_length > 0) {
      body_ = Body::framed;
      decoder_ = BodyDecoder(r.framing, content_length);
      reading_ = ex;
      ex->restart_body_clock();
    } else {
      ex->upload = Upload::complete;
    }
    queue_.push_back(ex);
    dispatch(ex);
    if (ex->upload == Upload::complete) ex->deliver({});
  }
  update_reading();
}

// Hands buffered body bytes of reading_ to its exchange; true when that body ended (the next
// request may follow), false when more bytes (or a consumed()) are needed.
bool Http1Session::pump_body() {
  std::shared_ptr<Http1Exchange> ex = reading_;
  if (body_ == Body::tunnel_wait || in_.empty() || ex->unacked >= kBodyWindow) return false;
  std::string data;
  decoder_.take(in_, data);
  if (decoder_.failed()) {
    ++counters().protocol_errors;
    log::debug("http", "malformed chunked body, closing", {{"peer", conn_.peer_text()}});
    conn_.close();
    return false;
  }
  ex->body_received += data.size();
  if (body_ != Body::tunnel && ex->body_received > limits().max_body_bytes) {
    log::debug("http", "chunked body over the limit, closing", {{"peer", conn_.peer_text()}});
    conn_.close();
    return false;
  }
  const bool ended = body_ == Body::framed && decoder_.done();
  if (ended) {
    ex->upload = Upload::complete;
    reading_.reset();
    body_ = Body::none;
  }
  ex->deliver(data);
  return ended && !conn_.closing();
}

void Http1Session::update_reading() {
  if (!limits().streaming) return;
  bool want;
  if (reading_) {
    want = body_ != Body::tunnel_wait && reading_->unacked + in_.size() < kBodyWindow;
    // Reading resumes after our window held the client back: that wait was ours.
    if (want && !conn_.reading() && body_ == Body::framed) reading_->restart_body_clock();
  } else {
    want = intake_ == Intake::open && queue_.empty();
  }
  conn_.set_reading(want);
}

// A framed body (not a tunnel) while we read it; none while our window holds the client back.
uint64_t Http1Session::body_deadline_ms() const {
  if (!reading_ || body_ != Body::framed || !conn_.reading() || reading_->body_clock_ms == 0) return 0;
  return reading_->body_deadline_ms(limits());
}

void Http1Session::peer_finished() {
  if (reading_) {
    // A tunnel's client half-closed: the origin may still answer. A body cut short: gone.
    if (body_ != Body::tunnel) return conn_.close();
    std::shared_ptr<Http1Exchange> ex = std::move(reading_);
    body_ = Body::none;
    ex->upload = Upload::complete;
    ex->deliver({});
    return;
  }
  if (!queue_.empty()) {
    stop_intake(*queue_.back());
    return;
  }
  conn_.close();
}

void Http1Session::consumed(ExchangeImpl& ex, size_t) {
  if (conn_.closing() || reading_.get() != &ex) return;
  {
    Connection::ReadScope scope(conn_);
    parse();  // buffered body bytes the window held back, then reading resumes
  }
  if (!conn_.closing()) conn_.flush();
}

// ---------------------------------------------------------------------------------- writing

void Http1Session::write_head(Http1Exchange& ex, std::optional<uint64_t> length) {
  const Response& res = ex.res;
  std::string& out = conn_.output();
  out += ex.req.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out += reason_phrase(res.status);
  out += "\r\n";
  for (const Header& h : res.headers) {
    if (unsafe_header(h)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (ex.upgrade == Upgrade::tunnel) {
    ex.body_out = BodyOut::until_end;
    out += "connection: upgrade\r\n\r\n";
    return;
  }
  const bool body = body_allowed(ex.req, res.status);
  ex.body_out = !body ? BodyOut::none : length ? BodyOut::length : BodyOut::until_end;
  if (res.status >= 200 && res.status != 204 && res.status != 304) {
    if (length) {
      out += "content-length: " + std::to_string(*length) + "\r\n";
    } else if (body) {
      // Unknown length: chunked for HTTP/1.1; an HTTP/1.0 client reads until we close.
      if (ex.req.version == 11) {
        out += "transfer-encoding: chunked\r\n";
        ex.body_out = BodyOut::chunked;
      } else {
        ex.after = Http1Exchange::After::close;
      }
    }
  }
  if (ex.after == Http1Exchange::After::close) out += "connection: close\r\n";
  out += "\r\n";
}

// Writes the responses at the front of the queue that are ready, in order; a streamed one holds
// the queue until it finishes.
void Http1Session::write_responses() {
  bool last = false;
  while (!queue_.empty() && queue_.front()->responded()) {
    const std::shared_ptr<Http1Exchange> held = queue_.front();  // a close below empties the queue
    Http1Exchange& front = *held;
    // A body the handler answered before reading all of it: the connection cannot carry
    // another request after it.
    if (reading_.get() == &front && front.upgrade != Upgrade::tunnel) stop_intake(front);
    if (front.streamed()) {
      if (front.body_out == BodyOut::undecided) {
        write_head(front, front.length);
        if (front.upgrade == Upgrade::tunnel) {
          body_ = Body::tunnel;
          update_reading();
          Connection::ReadScope scope(conn_);
          pump_body();  // bytes the client sent right after its request
        }
        if (conn_.closing()) return;
      }
      if (front.reply != Reply::finished) break;
      if (front.body_out == BodyOut::chunked) conn_.output() += kLastChunk;
      if (front.upgrade == Upgrade::tunnel) front.after = Http1Exchange::After::close;
    }
    std::shared_ptr<Http1Exchange> ex = std::move(queue_.front());
    queue_.pop_front();
    ex->release();
    if (!ex->streamed()) {
      write_head(*ex, ex->res.body.size());
      if (body_allowed(ex->req, ex->res.status)) conn_.output() += ex->res.body;
    }
    conn_.touch();
    if (ex->after == Http1Exchange::After::close) {
      last = true;
      break;
    }
  }
  if (last) {
    detach_all();
    conn_.flush();
    conn_.shutdown_then_close();
    return;
  }
  conn_.flush_unless_in_read();
  if (limits().streaming) {
    if (!conn_.closing() && queue_.empty()) {
      {
        Connection::ReadScope scope(conn_);
        parse();  // the next request, if it arrived while this one was answered
      }
      conn_.flush();
    }
    return;
  }
  if (!conn_.closing() && !conn_.reading() && intake_ == Intake::open && queue_.size() < limits().max_pipelined) {
    conn_.set_reading(true);
    {
      Connection::ReadScope scope(conn_);
      parse();  // requests that arrived while paused are already buffered
    }
    conn_.flush();
  }
}

void Http1Session::respond(ExchangeImpl&) {
  if (!conn_.closing()) write_responses();
}

void Http1Session::write(ExchangeImpl& ex, std::string_view data) {
  if (conn_.closing() || ex.body_out == BodyOut::none) return;
  conn_.touch();
  if (queue_.empty() || queue_.front().get() != &ex || ex.body_out == BodyOut::undecided) return;
  if (ex.body_out == BodyOut::chunked) append_chunk(conn_.output(), data);
  else conn_.output().append(data);
  conn_.flush_unless_in_read();
}

void Http1Session::finish(ExchangeImpl&) {
  if (!conn_.closing()) write_responses();
}

void Http1Session::abort(ExchangeImpl&) {
  if (conn_.closing()) return;
  conn_.flush();
  conn_.close();
}

size_t Http1Session::unsent(const ExchangeImpl&) const { return conn_.closing() ? 0 : conn_.unsent(); }

void Http1Session::send_continue(ExchangeImpl&) {
  conn_.output() += "HTTP/1.1 100 Continue\r\n\r\n";
  conn_.flush_unless_in_read();
}

void Http1Session::written() {
  if (queue_.empty() || !queue_.front()->drain_cb) return;
  std::shared_ptr<Http1Exchange> ex = queue_.front();
  if (ex->session != this || unsent(*ex) >= kLowWater) return;
  auto cb = std::move(ex->drain_cb);
  ex->drain_cb = nullptr;
  cb();
}

void Http1Session::detach_all() {
  std::deque<std::shared_ptr<Http1Exchange>> gone;
  gone.swap(queue_);
  if (reading_) gone.push_back(std::exchange(reading_, nullptr));
  for (auto& ex : gone) ex->detach();
}

}  // namespace sekisho::net::http
