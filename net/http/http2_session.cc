#include "net/http/http2_session.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "net/http/connection.h"

namespace sekisho::net::http {
namespace {

Http2Exchange& h2(ExchangeImpl& ex) { return static_cast<Http2Exchange&>(ex); }
const Http2Exchange& h2(const ExchangeImpl& ex) { return static_cast<const Http2Exchange&>(ex); }

Http2Exchange* stream_exchange(nghttp2_session* session, int32_t stream_id) {
  return static_cast<Http2Exchange*>(nghttp2_session_get_stream_user_data(session, stream_id));
}

}  // namespace

Http2Session::Http2Session(Connection& conn) : Session(conn) {
  const bool streaming = limits().streaming;
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Http2Session::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Session::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Session::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Http2Session::on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Session::on_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Streaming: request body bytes are acknowledged (WINDOW_UPDATE) only once the handler has
  // consumed() them, so a client cannot upload faster than the handler passes bytes on.
  if (streaming) nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_server_new2(&h2_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits().max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(limits().max_header_bytes)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kBodyWindow)},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, streaming ? 3 : 2);
  if (streaming)  // the connection's window: a few streams' worth
    nghttp2_session_set_local_window_size(h2_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(4 * kBodyWindow));
}

Http2Session::~Http2Session() { nghttp2_session_del(h2_); }

// ---------------------------------------------------------------------------------- reading

void Http2Session::received(std::string_view data) {
  const ssize_t rv = nghttp2_session_mem_recv(h2_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (conn_.closing()) return;
  if (rv < 0) {
    ++counters().protocol_errors;
    log::debug("http", "HTTP/2 error, closing", {{"peer", conn_.peer_text()}, {"error", nghttp2_strerror(static_cast<int>(rv))}});
    send();  // nghttp2 has queued a GOAWAY for most errors
    conn_.flush();
    conn_.shutdown_then_close();
    return;
  }
  send();
}

void Http2Session::peer_finished() { conn_.close(); }

uint64_t Http2Session::head_started_ms() const {
  uint64_t oldest = 0;
  for (const auto& [id, ex] : streams_)
    if (ex->stage == Http2Exchange::Stage::arriving && (oldest == 0 || ex->started_ms < oldest)) oldest = ex->started_ms;
  return oldest;
}

// Streams whose body is arriving, unless our windows hold the client back: the stream's own, or
// the connection's (4 windows; beyond 3 unconsumed, other streams may be what blocks this one).
uint64_t Http2Session::body_deadline_ms() const {
  if (!limits().streaming) return 0;
  size_t unacked = 0;
  for (const auto& [id, ex] : streams_) unacked += ex->unacked;
  if (unacked >= 3 * kBodyWindow) return 0;
  uint64_t earliest = 0;
  for (const auto& [id, ex] : streams_) {
    if (ex->stage != Http2Exchange::Stage::dispatched || ex->upload != Upload::receiving || ex->body_clock_ms == 0 ||
        ex->unacked >= kBodyWindow)
      continue;
    const uint64_t deadline = ex->body_deadline_ms(limits());
    if (earliest == 0 || deadline < earliest) earliest = deadline;
  }
  return earliest;
}

// One slow upload must not end the other streams of its connection: its stream is reset.
bool Http2Session::cut_late_bodies(uint64_t now) {
  for (const auto& [id, ex] : streams_) {
    if (ex->stage != Http2Exchange::Stage::dispatched || ex->upload != Upload::receiving || ex->body_clock_ms == 0 ||
        ex->unacked >= kBodyWindow || now < ex->body_deadline_ms(limits()))
      continue;
    ex->body_clock_ms = 0;  // cut once
    ++counters().timeouts;
    log::debug("http", "request body slower than the minimum rate, resetting its stream", {{"peer", conn_.peer_text()}});
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  push();
  return true;
}

int Http2Session::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* s = static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto ex = std::make_shared<Http2Exchange>(s);
  ex->stream_id = frame->hd.stream_id;
  ex->req.version = 20;
  ex->started_ms = monotonic_ms();
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, ex.get());
  s->streams_[frame->hd.stream_id] = std::move(ex);
  return 0;
}

int Http2Session::on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                            const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* s = static_cast<Http2Session*>(user);
  Http2Exchange* ex = stream_exchange(session, frame->hd.stream_id);
  if (!ex || ex->limit_status) return 0;
  ex->header_bytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2 accounting
  if (ex->header_bytes > s->limits().max_header_bytes) {
    ex->limit_status = 431;
    return 0;
  }
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    ex->req.method.assign(v);
  } else if (n == ":path") {
    const size_t q = v.find('?');
    ex->req.path.assign(v.substr(0, q));
    ex->req.query.assign(q == std::string_view::npos ? std::string_view{} : v.substr(q + 1));
  } else if (n == ":authority") {
    ex->req.headers.push_back({"host", std::string(v)});
  } else if (!n.empty() && n[0] != ':') {
    ex->req.headers.push_back({std::string(n), std::string(v)});
  }
  return 0;
}

int Http2Session::on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                                void* user) {
  auto* s = static_cast<Http2Session*>(user);
  Http2Exchange* ex = stream_exchange(session, stream_id);
  if (s->limits().streaming) {
    if (!ex || ex->stage != Http2Exchange::Stage::dispatched || ex->cancelled() || ex->upload != Upload::receiving ||
        ex->reply == Reply::whole) {
      nghttp2_session_consume(session, stream_id, len);  // nobody reads it: keep the window open
      return 0;
    }
    ex->body_received += len;
    if (ex->body_received > s->limits().max_body_bytes) {
      nghttp2_session_consume(session, stream_id, len);
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    ex->deliver({reinterpret_cast<const char*>(data), len});
    return 0;
  }
  if (!ex || ex->limit_status) return 0;
  if (ex->req.body.size() + len > s->limits().max_body_bytes) {
    ex->limit_status = 413;
    ex->req.body.clear();
    return 0;
  }
  ex->req.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

// Streaming: the head goes to the handler at once; the end of the body follows with END_STREAM.
void Http2Session::frame_streaming(const nghttp2_frame* frame) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return;
  std::shared_ptr<Http2Exchange> ex = it->second;
  const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (ex->stage == Http2Exchange::Stage::arriving) {
    if (frame->hd.type != NGHTTP2_HEADERS) return;
    ex->stage = Http2Exchange::Stage::dispatched;
    if (end) ex->upload = Upload::complete;
    ex->body_len = end ? 0 : -1;
    const std::string_view cl = ex->req.header("content-length");
    if (!end && !cl.empty() && cl.size() < 19 && cl.find_first_not_of("0123456789") == std::string_view::npos)
      ex->body_len = std::stoll(std::string(cl));
    if (!end) ex->restart_body_clock();
    dispatch(ex, ex->limit_status);
    if (end) ex->deliver({});
  } else if (end && ex->upload == Upload::receiving) {
    ex->upload = Upload::complete;
    ex->deliver({});
  }
}

int Http2Session::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* s = static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  if (s->limits().streaming) {
    s->frame_streaming(frame);
    return 0;
  }
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  auto it = s->streams_.find(frame->hd.stream_id);
  if (it == s->streams_.end() || it->second->stage == Http2Exchange::Stage::dispatched) return 0;
  std::shared_ptr<Http2Exchange> ex = it->second;
  ex->stage = Http2Exchange::Stage::dispatched;
  if (s->requests_ + 1 >= s->limits().max_requests_per_connection && s->goaway_ == Goaway::none) {
    s->goaway_ = Goaway::sent;
    nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session),
                          NGHTTP2_NO_ERROR, nullptr, 0);
  }
  s->dispatch(ex, ex->limit_status);
  return 0;
}

int Http2Session::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
  auto* s = static_cast<Http2Session*>(user);
  auto it = s->streams_.find(stream_id);
  if (it == s->streams_.end()) return 0;
  std::shared_ptr<Http2Exchange> ex = std::move(it->second);
  s->streams_.erase(it);
  ex->detach();  // a response still to come is dropped
  s->conn_.touch();
  return 0;
}

void Http2Session::consumed(ExchangeImpl& ex, size_t n) {
  if (conn_.closing()) return;
  nghttp2_session_consume(h2_, h2(ex).stream_id, n);
  push();
}

// ---------------------------------------------------------------------------------- writing

// Sends what nghttp2 has queued, as far as the write queue allows (streaming).
void Http2Session::send() {
  if (conn_.closing()) return;
  // Streaming: frames wait inside nghttp2 (their bytes in each stream's buffer, counted by
  // unsent()) while the socket's queue is full, so many streams cannot pile up past
  // kMaxWriteQueue together; written() resumes when writes complete.
  const size_t queued = conn_.write_queue_size();
  size_t produced = 0;
  for (;;) {
    if (limits().streaming && queued + conn_.output().size() + produced > kHighWater) break;
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(h2_, &data);
    if (n < 0) {
      conn_.close();
      return;
    }
    if (n == 0) break;
    produced += static_cast<size_t>(n);
    // Over TLS each frame becomes its own record: clients that read one record at a time and
    // keep one response buffer (dnsperf) then never see two responses in one read.
    if (!conn_.send_record(data, static_cast<size_t>(n))) return;
  }
  if (!nghttp2_session_want_read(h2_) && !nghttp2_session_want_write(h2_)) {
    conn_.flush();
    conn_.shutdown_then_close();
  }
}

// Sends what nghttp2 has queued. Inside one of its callbacks (a read) nothing is sent: the
// frames go out when the read sends on its way out.
void Http2Session::push() {
  if (conn_.in_read()) return;
  send();
  conn_.flush();
}

// A stream whose data provider deferred (it waits for write()) has its bytes or its end now.
void Http2Session::resume(Http2Exchange& ex) {
  if (ex.provider == Http2Exchange::Provider::deferred) {
    ex.provider = Http2Exchange::Provider::reading;
    nghttp2_session_resume_data(h2_, ex.stream_id);
  }
  push();
}

ssize_t Http2Session::read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                                nghttp2_data_source* source, void*) {
  auto* ex = static_cast<Http2Exchange*>(source->ptr);
  if (ex->streamed()) {
    if (ex->out_buf.empty()) {
      if (ex->reply == Reply::finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      ex->provider = Http2Exchange::Provider::deferred;
      return NGHTTP2_ERR_DEFERRED;
    }
    const size_t n = std::min(length, ex->out_buf.size());
    std::memcpy(buf, ex->out_buf.data(), n);
    ex->out_buf.erase(0, n);
    if (ex->out_buf.empty() && ex->reply == Reply::finished) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  const std::string& body = ex->res.body;
  const size_t n = std::min(length, body.size() - ex->body_sent);
  std::memcpy(buf, body.data() + ex->body_sent, n);
  ex->body_sent += n;
  if (ex->body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

void Http2Session::submit(Http2Exchange& ex) {
  const Response& res = ex.res;
  const bool streamed = ex.streamed();
  const std::string status = std::to_string(res.status);
  const std::string length = std::to_string(streamed ? ex.length.value_or(0) : res.body.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(res.headers.size() + 2);
  auto add = [&nva](std::string_view n, std::string_view v) {
    nva.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(n.data())),
                   const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", status);
  for (const Header& h : res.headers)
    if (!unsafe_header(h)) add(h.name, h.value);
  const bool body = body_allowed(ex.req, res.status) && (streamed ? ex.length != 0u : !res.body.empty());
  ex.body_out = !body ? BodyOut::none : (!streamed || ex.length) ? BodyOut::length : BodyOut::until_end;
  if (res.status >= 200 && res.status != 204 && res.status != 304 && (!streamed || ex.length))
    add("content-length", length);
  nghttp2_data_provider provider;
  provider.source.ptr = &ex;
  provider.read_callback = &Http2Session::read_body;
  // nghttp2 copies the header block; the body is read from the exchange, which the stream map
  // keeps alive until the stream closes.
  if (nghttp2_submit_response(h2_, ex.stream_id, nva.data(), nva.size(), body ? &provider : nullptr) != 0)
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, ex.stream_id, NGHTTP2_INTERNAL_ERROR);
  conn_.touch();
}

void Http2Session::respond(ExchangeImpl& ex) {
  if (conn_.closing()) return;
  submit(h2(ex));
  push();
}

void Http2Session::write(ExchangeImpl& ex, std::string_view data) {
  if (conn_.closing() || ex.body_out == BodyOut::none) return;
  conn_.touch();
  h2(ex).out_buf.append(data);
  resume(h2(ex));
}

void Http2Session::finish(ExchangeImpl& ex) {
  if (!conn_.closing()) resume(h2(ex));
}

void Http2Session::abort(ExchangeImpl& ex) {
  if (conn_.closing()) return;
  nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, h2(ex).stream_id, NGHTTP2_INTERNAL_ERROR);
  push();
}

size_t Http2Session::unsent(const ExchangeImpl& ex) const {
  return conn_.closing() ? 0 : h2(ex).out_buf.size() + conn_.unsent();
}

void Http2Session::written() {
  if (limits().streaming && !conn_.in_read() && nghttp2_session_want_write(h2_)) {
    send();  // frames held back while the queue was full
    conn_.flush();
    if (conn_.closing()) return;
  }
  std::vector<std::shared_ptr<Http2Exchange>> waiting;
  for (auto& [id, ex] : streams_)
    if (ex->drain_cb) waiting.push_back(ex);
  for (auto& ex : waiting) {
    if (ex->session != this || !ex->drain_cb || unsent(*ex) >= kLowWater) continue;
    auto cb = std::move(ex->drain_cb);
    ex->drain_cb = nullptr;
    cb();
    if (conn_.closing()) return;
  }
}

void Http2Session::timed_out() { goaway(); }

// Tells the client the connection ends (timeouts); the connection closes right after.
void Http2Session::goaway() {
  if (goaway_ == Goaway::sent) return;
  goaway_ = Goaway::sent;
  nghttp2_session_terminate_session(h2_, NGHTTP2_NO_ERROR);
  send();
  conn_.flush();
}

void Http2Session::detach_all() {
  std::unordered_map<int32_t, std::shared_ptr<Http2Exchange>> gone;
  gone.swap(streams_);
  for (auto& [id, ex] : gone) ex->detach();
}

}  // namespace sekisho::net::http
