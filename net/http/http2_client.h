// An HTTP/2 client over one connection, nghttp2 driven from memory: the caller owns the socket
// and its TLS, hands received plaintext to received() and sends what take_output() returns. Many
// POST requests at once, one stream each (RFC 9113); nghttp2 holds back those beyond the
// server's SETTINGS_MAX_CONCURRENT_STREAMS until others end. Used for DNS over HTTPS toward
// upstreams (RFC 8484), the counterpart of http2_session.h on the server side.
//
// A request is known by the caller's tag; its body is pulled from the Listener when nghttp2
// sends its DATA, and the response comes back as its status, its body in pieces, and its end.
// cancel() forgets a tag at once (RST_STREAM): no callback names it afterwards, so the caller
// may free what the tag points to.
//
// Threading: one connection's, on its loop. The Listener's callbacks run inside received() and
// take_output(); they may post() and cancel() but not destroy the client.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sekisho::net::http {

class Http2Client {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Copies up to `cap` more bytes of `tag`'s request body into `buf`; sets `end` with the last.
    virtual size_t read_body(void* tag, uint8_t* buf, size_t cap, bool& end) = 0;
    virtual void on_status(void* tag, int status) = 0;
    virtual void on_body(void* tag, std::span<const uint8_t> piece) = 0;
    // The stream ended: error_code 0 when the response is complete (RFC 9113 §7 codes otherwise).
    virtual void on_closed(void* tag, uint32_t error_code) = 0;
  };

  // `authority` and `path` are every request's (:authority, :path).
  Http2Client(Listener& listener, std::string authority, std::string path);
  ~Http2Client();
  Http2Client(const Http2Client&) = delete;
  Http2Client& operator=(const Http2Client&) = delete;

  // A POST of `length` bytes of `content_type` (also asked for as the response's, Accept).
  // Returns the stream id, or a negative nghttp2 error (no stream ids left, GOAWAY received).
  int32_t post(void* tag, std::string_view content_type, size_t length);
  void cancel(int32_t stream);
  // False on a protocol error (error() says which); the connection is to be closed.
  bool received(std::span<const uint8_t> plain);
  // Appends the frames waiting to be sent. False on an error.
  bool take_output(std::string& out);
  // False once no more requests can be made on this connection (GOAWAY either way, ids used up).
  bool accepts_requests() const { return nghttp2_session_check_request_allowed(h2_) != 0; }
  const std::string& error() const { return error_; }

 private:
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static ssize_t read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* user);

  Listener& listener_;
  std::string authority_;
  std::string path_;
  nghttp2_session* h2_ = nullptr;
  std::string error_;
};

}  // namespace sekisho::net::http
