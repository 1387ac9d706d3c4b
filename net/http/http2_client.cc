#include "net/http/http2_client.h"

#include <charconv>
#include <cstring>

namespace sekisho::net::http {
namespace {

nghttp2_nv header(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

Http2Client::Http2Client(Listener& listener, std::string authority, std::string path)
    : listener_(listener), authority_(std::move(authority)), path_(std::move(path)) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Client::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Client::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Client::on_stream_close);
  nghttp2_session_client_new(&h2_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
  // Server push is of no use to a DNS client (RFC 8484 §5.2 allows it; we do not want it).
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, 1);
}

Http2Client::~Http2Client() { nghttp2_session_del(h2_); }

int32_t Http2Client::post(void* tag, std::string_view content_type, size_t length) {
  char length_text[24];
  const auto [end, ec] = std::to_chars(length_text, length_text + sizeof length_text, length);
  const nghttp2_nv headers[] = {
      header(":method", "POST"),
      header(":scheme", "https"),
      header(":authority", authority_),
      header(":path", path_),
      header("content-type", content_type),
      header("accept", content_type),
      header("content-length", std::string_view(length_text, static_cast<size_t>(end - length_text))),
  };
  nghttp2_data_provider body{};
  body.read_callback = &Http2Client::read_body;
  return nghttp2_submit_request(h2_, nullptr, headers, std::size(headers), &body, tag);
}

void Http2Client::cancel(int32_t stream) {
  if (stream <= 0) return;
  nghttp2_session_set_stream_user_data(h2_, stream, nullptr);
  nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
}

bool Http2Client::received(std::span<const uint8_t> plain) {
  const ssize_t rv = nghttp2_session_mem_recv(h2_, plain.data(), plain.size());
  if (rv < 0) {
    error_ = std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(rv));
    return false;
  }
  return true;
}

bool Http2Client::take_output(std::string& out) {
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(h2_, &data);
    if (n < 0) {
      error_ = std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n));
      return false;
    }
    if (n == 0) return true;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

int Http2Client::on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                           const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* self = static_cast<Http2Client*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || std::string_view(reinterpret_cast<const char*>(name), namelen) != ":status")
    return 0;
  void* tag = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!tag) return 0;
  int status = 0;
  std::from_chars(reinterpret_cast<const char*>(value), reinterpret_cast<const char*>(value) + valuelen, status);
  self->listener_.on_status(tag, status);
  return 0;
}

int Http2Client::on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                               void* user) {
  auto* self = static_cast<Http2Client*>(user);
  if (void* tag = nghttp2_session_get_stream_user_data(session, stream_id))
    self->listener_.on_body(tag, std::span<const uint8_t>(data, len));
  return 0;
}

int Http2Client::on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code, void* user) {
  auto* self = static_cast<Http2Client*>(user);
  void* tag = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!tag) return 0;
  nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
  self->listener_.on_closed(tag, error_code);
  return 0;
}

ssize_t Http2Client::read_body(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                               uint32_t* flags, nghttp2_data_source*, void* user) {
  auto* self = static_cast<Http2Client*>(user);
  void* tag = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!tag) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // cancelled before its body went out: reset
  bool end = false;
  const size_t n = self->listener_.read_body(tag, buf, length, end);
  if (end) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace sekisho::net::http
