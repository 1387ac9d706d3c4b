// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), decoded incrementally: bytes are fed as
// they arrive and the data comes out without the framing, so a body of any size streams
// through a bounded buffer. Used for chunked request bodies (the server, streaming mode) and
// chunked responses from origins (sekisho-intercept). Chunk extensions and trailers are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sekisho::net::http {

class ChunkedDecoder {
 public:
  // Consumes what it can of `in`, appending decoded data to `out`; returns the bytes consumed.
  // Stops at the end of the body (done()) or at the first malformed byte (failed()).
  size_t feed(std::string_view in, std::string& out);
  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::failed; }

 private:
  enum class State { size, extension, size_lf, data, data_cr, data_lf, trailer, trailer_lf, done, failed };
  State state_ = State::size;
  uint64_t remaining_ = 0;
  size_t digits_ = 0;
  size_t line_bytes_ = 0;  // extension or trailer line, bounded
  bool trailer_empty_ = true;
};

// Frames `data` as one chunk (nothing for empty data: an empty chunk would end the body).
void append_chunk(std::string& out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace sekisho::net::http
